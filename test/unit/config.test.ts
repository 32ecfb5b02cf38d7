import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  DEFAULT_CONFIG,
  helpText,
  loadConfig,
  markdownTable,
  OPTIONS,
} from '../../src/server/config.js';

describe('configuration', () => {
  it('has the documented defaults', () => {
    expect(DEFAULT_CONFIG).toMatchObject({
      port: 3000,
      host: '127.0.0.1',
      historySize: 10_000,
      heartbeatMs: 15_000,
    });
  });

  it('takes flags over environment over defaults, PORT included', () => {
    expect(loadConfig({ env: { PORT: '4000' } }).config.port).toBe(4000);
    expect(loadConfig({ argv: ['--port', '5000'], env: { PORT: '4000' } }).config.port).toBe(5000);
    expect(loadConfig({ argv: ['--history-size=7'] }).config.historySize).toBe(7);
    expect(loadConfig({ env: { SSEHUB_HISTORY_SIZE: '9' } }).config.historySize).toBe(9);
    expect(loadConfig({ argv: ['--no-demo'] }).config.demo).toBe(false);
  });

  it.each([
    [['--port', 'abc'], /--port: expected an integer/],
    [['--port', '70000'], /--port: must be between 0 and 65535/],
    [['--history-size', '0'], /--history-size: must be between 1/],
    [['--nope'], /--nope: unknown option/],
    [['--port'], /--port: missing value/],
  ])('refuses %j with one line naming the option', (argv, message) => {
    expect(() => loadConfig({ argv })).toThrow(ConfigError);
    expect(() => loadConfig({ argv })).toThrow(message);
  });

  it('lists every option with its default in --help', () => {
    const help = helpText();
    for (const option of OPTIONS) {
      expect(help).toContain(option.flag);
      expect(help).toContain(`default ${option.defaultText ?? String(option.default)}`);
    }
  });

  it('the README configuration table is generated from the option table', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const table = readme
      .split('<!-- config-table:start -->')[1]
      ?.split('<!-- config-table:end -->')[0]
      ?.trim();
    expect(table).toBe(markdownTable());
  });
});
