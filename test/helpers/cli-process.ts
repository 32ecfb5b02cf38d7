import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MEMORY_STORE_UNLESS_GIVEN } from '../helpers/hub-process.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = join(ROOT, 'src/server/cli.ts');
/** The package's `bin`, as installed users run it. */
export const BUILT_CLI = join(
  ROOT,
  (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: { ssehub: string } }).bin.ssehub,
);

/**
 * Builds dist/ unless it is newer than every source file (`npm test` has just built it; a lone
 * `vitest run` may not have).
 */
export function ensureBuilt(): void {
  const builtAt = mtime(BUILT_CLI);
  if (builtAt !== undefined && newestSource(join(ROOT, 'src')) <= builtAt) return;
  execFileSync(process.execPath, [
    join(ROOT, 'node_modules/typescript/bin/tsc'),
    '-p',
    join(ROOT, 'tsconfig.build.json'),
  ]);
}

function mtime(path: string): number | undefined {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : (mtime(path) ?? 0));
  }
  return newest;
}

type CliProcess = ChildProcess & {
  output: () => { stdout: string; stderr: string };
  /** Settles once the process has exited and its output has been read to the end. */
  closed: Promise<{ code: number | null; signal: string | null }>;
};

/** Runs `ssehub` from source (through tsx) with the given flags and environment. */
export function runCli(args: readonly string[], env: Record<string, string> = {}): CliProcess {
  return spawnCli(['--import', 'tsx', CLI, ...args], env);
}

/** Runs the built `ssehub` (call `ensureBuilt` first): starts faster than through tsx. */
export function runBuiltCli(args: readonly string[], env: Record<string, string> = {}): CliProcess {
  return spawnCli([BUILT_CLI, ...args], env);
}

function spawnCli(args: readonly string[], env: Record<string, string>): CliProcess {
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...MEMORY_STORE_UNLESS_GIVEN, ...env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const closed = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  );
  return Object.assign(child, { output: () => ({ stdout, stderr }), closed });
}

/** Resolves with the exit code (or signal name) and everything printed. */
export function exited(
  child: CliProcess,
): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return child.closed.then(({ code, signal }) => ({ code, signal, ...child.output() }));
}

/** Starts a hub process and resolves with its URL once it logs that it listens. */
export async function startHubProcess(
  args: readonly string[],
  timeoutMs = 15_000,
): Promise<{ child: ReturnType<typeof runCli>; url: string }> {
  const child = runCli(['--port', '0', ...args]);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`hub did not start: ${child.output().stderr}`)),
      timeoutMs,
    );
    const check = () => {
      const match = /ssehub listening on (https?:\/\/[^\s"]+)/.exec(child.output().stdout);
      if (match) {
        clearTimeout(timer);
        child.stdout?.off('data', check);
        resolve(match[1] as string);
      }
    };
    child.stdout?.on('data', check);
    child.once('exit', () => reject(new Error(`hub exited at start: ${child.output().stderr}`)));
  });
  return { child, url };
}

/** JSON log lines the process wrote to stdout. */
export function logLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}
