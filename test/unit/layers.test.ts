import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * docs/architecture.md, "Layers": dependencies point one way. Each folder of src/ may import only
 * from the folders listed for it; a new edge is a design decision, made here and in the document.
 */
const ALLOWED: Record<string, readonly string[]> = {
  protocol: [],
  store: ['protocol'],
  hub: ['store', 'protocol'],
  http: ['hub', 'store', 'protocol'],
  fetch: ['http', 'hub', 'store', 'protocol'],
  auth: ['http', 'hub', 'store', 'protocol'],
  ops: ['hub', 'store', 'protocol'],
  webhooks: ['hub', 'store', 'protocol'],
  server: ['auth', 'http', 'hub', 'store', 'ops', 'webhooks', 'protocol'],
  client: ['protocol'],
  react: ['client'],
  demo: ['client', 'protocol'],
};

const SRC = join(import.meta.dirname, '..', '..', 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

function layerOf(file: string): string | undefined {
  const parts = relative(SRC, file).split(sep);
  return parts.length > 1 ? parts[0] : undefined;
}

describe('layers', () => {
  it('every import between src/ folders follows the allowed direction, with no cycles', () => {
    const violations: string[] = [];
    for (const file of sourceFiles(SRC)) {
      const layer = layerOf(file);
      if (layer === undefined) continue; // root files: the checks below
      const allowed = ALLOWED[layer];
      if (allowed === undefined) {
        violations.push(`${relative(SRC, file)}: folder "${layer}" has no rule in this test`);
        continue;
      }
      for (const match of readFileSync(file, 'utf8').matchAll(/from '(\.\.?\/[^']+)'/g)) {
        const target = layerOf(join(file, '..', match[1] as string));
        if (target !== undefined && target !== layer && !allowed.includes(target)) {
          violations.push(`${relative(SRC, file)} imports ${match[1]} (${layer} -> ${target})`);
        }
      }
    }
    expect(violations).toEqual([]);
  });

  it('root files are entry points of package.json, or leaves every layer may use, importing nothing', () => {
    const manifest = JSON.parse(readFileSync(join(SRC, '..', 'package.json'), 'utf8')) as {
      exports: Record<string, { 'ssehub-source': string }>;
    };
    const entries = Object.values(manifest.exports).map((targets) =>
      join(SRC, '..', targets['ssehub-source']),
    );
    const leaves = readdirSync(SRC)
      .filter((name) => name.endsWith('.ts'))
      .map((name) => join(SRC, name))
      .filter((file) => !entries.includes(file));
    expect(leaves.map((file) => relative(SRC, file)).sort()).toEqual(['defaults.ts', 'errors.ts']);
    for (const file of leaves) expect(readFileSync(file, 'utf8'), file).not.toMatch(/^import /m);
  });

  it('the Fetch adapter loads no node:http, node:net or socket takeover, however deep (it runs on Bun and Deno)', () => {
    const loaded = new Set<string>();
    const nodeOnly: string[] = [];
    const visit = (file: string): void => {
      if (loaded.has(file)) return;
      loaded.add(file);
      // Value imports and re-exports only: `import type` and `export type` are erased.
      for (const match of readFileSync(file, 'utf8').matchAll(
        /^(?:import|export) (?!type )[^;]*? from '([^']+)'/gms,
      )) {
        const target = match[1] as string;
        if (/^node:(http|https|http2|net|tls)$/.test(target))
          nodeOnly.push(`${relative(SRC, file)} imports ${target}`);
        if (target.startsWith('.')) visit(join(file, '..', target.replace(/\.js$/, '.ts')));
      }
    };
    visit(join(SRC, 'fetch', 'index.ts'));
    expect(nodeOnly).toEqual([]);
    expect([...loaded].map((file) => relative(SRC, file))).not.toContain(join('http', 'stream-socket.ts'));
  });

  it('the allowed directions themselves have no cycle', () => {
    const visiting = new Set<string>();
    const done = new Set<string>();
    const visit = (layer: string, path: string[]): void => {
      if (done.has(layer)) return;
      if (visiting.has(layer)) throw new Error(`cycle: ${[...path, layer].join(' -> ')}`);
      visiting.add(layer);
      for (const next of ALLOWED[layer] ?? []) visit(next, [...path, layer]);
      visiting.delete(layer);
      done.add(layer);
    };
    for (const layer of Object.keys(ALLOWED)) visit(layer, []);
  });
});
