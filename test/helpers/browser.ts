import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import type { BrowserContext } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ROOT = join(import.meta.dirname, '..', '..');

/**
 * Whether headless Chromium can run. Without it the suite is skipped with a loud message, but under
 * CI a missing browser fails the run (.ci/run installs Debian's chromium).
 */
export function chromiumAvailable(suite: string): boolean {
  if (existsSync(CHROMIUM)) return true;
  const message = `${CHROMIUM} not found: ${suite} cannot run (apt-get install chromium)`;
  if (process.env.CI) throw new Error(`${message}; CI requires it`);
  console.warn(`\n*** SKIPPING ${suite}: ${message} ***\n`);
  return false;
}

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Debian's Chromium, headless, with a fresh profile and no background traffic to the outside. */
export async function launchChromium(): Promise<Browser> {
  const userDataDir = mkdtempSync(join(tmpdir(), 'ssehub-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/** The demo page loads compiled scripts from dist/: build them when missing or older than src/. */
export function ensureDemoBuilt(): void {
  const pairs = [
    ['src/demo/main.ts', 'dist/demo/main.js'],
    ['src/client/client.ts', 'dist/client/client.js'],
    ['src/client/shared-client.ts', 'dist/client/shared-client.js'],
    ['src/client/share-leader.ts', 'dist/client/share-leader.js'],
    ['src/protocol/parse.ts', 'dist/protocol/parse.js'],
  ];
  const stale = pairs.some(([source, built]) => {
    const output = join(ROOT, built!);
    return !existsSync(output) || statSync(output).mtimeMs < statSync(join(ROOT, source!)).mtimeMs;
  });
  if (!stale) return;
  const build = spawnSync(
    process.execPath,
    [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
    {
      cwd: ROOT,
      encoding: 'utf8',
    },
  );
  if (build.status !== 0) throw new Error(`build failed:\n${build.stdout}${build.stderr}`);
}

export const ARTIFACTS = join(ROOT, 'test-artifacts');
