// Bun and Deno as the tests find them: the binaries the `bun` and `deno` devDependencies install.
// A test that needs a missing one is skipped loudly, except under CI, where it fails.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './hub-process.js';

export type Runtime = 'bun' | 'deno';

export function runtimeBinary(runtime: Runtime): string {
  return join(ROOT, 'node_modules', '.bin', runtime);
}

/** Whether `runtime` can run here; false (with a loud message) only outside CI. */
export function runtimeAvailable(runtime: Runtime, suite: string): boolean {
  if (existsSync(runtimeBinary(runtime))) return true;
  const message = `${runtime} not found in node_modules/.bin: ${suite} cannot run (npm ci installs it)`;
  if (process.env.CI) throw new Error(`${message}; CI requires it`);
  console.warn(`\n*** SKIPPING ${suite}: ${message} ***\n`);
  return false;
}

/**
 * The command line running a TypeScript file of this repository: its `.js` imports name `.ts` files,
 * and `ssehub/*` resolves to the sources (the `ssehub-source` condition), as under vitest.
 */
export function runtimeArgs(runtime: Runtime, file: string): string[] {
  const conditions = ['--conditions', 'ssehub-source'];
  return runtime === 'bun'
    ? [...conditions, file]
    : ['run', '--allow-all', '--unstable-sloppy-imports', '--quiet', ...conditions, file];
}

export interface RuntimeProcess {
  child: ChildProcess;
  /** What it printed on stdout so far. */
  output(): string;
  stop(): Promise<void>;
}

/** Starts `file` on `runtime`; resolves once a stdout line matches `ready` (with its match). */
export function startOnRuntime(
  runtime: Runtime,
  file: string,
  env: Record<string, string>,
  ready: RegExp,
  timeoutMs = 30_000,
): Promise<RuntimeProcess & { match: RegExpMatchArray }> {
  const child = spawn(runtimeBinary(runtime), runtimeArgs(runtime, file), {
    cwd: ROOT,
    env: { ...process.env, ...env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(
        new Error(`${runtime} ${file}: not ready after ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}`),
      );
    }, timeoutMs);
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      const match = ready.exec(stdout);
      if (match === null) return;
      clearTimeout(timer);
      resolve({ child, match, output: () => stdout, stop });
    });
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(
        new Error(`${runtime} ${file} exited (${code}) before it was ready; stderr: ${stderr.slice(-2000)}`),
      );
    });
  });
}
