import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/server/config.js';

const dir = mkdtempSync(join(tmpdir(), 'ssehub-webhook-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function configWith(content: unknown): string {
  const file = join(dir, `${randomBytes(4).toString('hex')}.json`);
  writeFileSync(file, JSON.stringify(content));
  return file;
}

describe('the config file webhooks section', () => {
  it('reads endpoints and settings as given, a secret from a file with @FILE', () => {
    const secret = `whsec_${randomBytes(32).toString('base64')}`;
    const secretFile = join(dir, 'secret');
    writeFileSync(secretFile, `${secret}\n`);
    const file = configWith({
      subscriptions: true,
      webhooks: {
        endpoints: [
          { url: 'https://backend.example/hooks', secret: `@${secretFile}`, events: ['topic.vacant'] },
          {
            url: 'http://127.0.0.1:9/x',
            secret,
            events: ['update.published'],
            topics: ['*'],
            name: 'search',
          },
        ],
        maxQueued: 50,
        retryBaseMs: 10,
        retryMaxMs: 10,
      },
    });
    const { webhooks } = loadConfig({ argv: ['--config', file] }).config;
    expect(webhooks?.endpoints.map((endpoint) => endpoint.secret)).toEqual([secret, secret]);
    expect(webhooks).toMatchObject({ maxQueued: 50, retryBaseMs: 10, retryMaxMs: 10 });
    expect(webhooks?.endpoints[1]).toMatchObject({ name: 'search', topics: ['*'] });
  });

  it('is absent unless the file has one', () => {
    expect(loadConfig({ argv: ['--config', configWith({ port: 3001 })] }).config.webhooks).toBeUndefined();
  });
});
