import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..', '..');

describe('ssehub/client entry point', () => {
  it('resolves as a package self-import from inside the repository', () => {
    const run = spawnSync(
      process.execPath,
      [
        '--conditions=ssehub-source',
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        "const m = await import('ssehub/client'); console.log(typeof m.createClient, typeof m.subscriptionUrl);",
      ],
      { cwd: root, encoding: 'utf8' },
    );
    expect(run.stderr).toBe('');
    expect(run.stdout.trim()).toBe('function function');
  });

  it('is browser-safe: the client and the parser and constants it uses import nothing from Node.js', () => {
    const files = [
      ...readdirSync(join(root, 'src', 'client')).map((name) => join(root, 'src', 'client', name)),
      join(root, 'src', 'protocol', 'parse.ts'),
      join(root, 'src', 'protocol', 'constants.ts'),
    ];
    const imports = files.flatMap((file) =>
      [...readFileSync(file, 'utf8').matchAll(/^(?:import|export)[^;]*?from '([^']+)'/gms)].map(
        (match) => match[1]!,
      ),
    );
    expect(imports.length).toBeGreaterThan(0);
    const outside = imports.filter(
      (specifier) => !/^\.\/|^\.\.\/protocol\/(parse|constants)\.js$/.test(specifier),
    );
    expect(outside).toEqual([]);
  });
});
