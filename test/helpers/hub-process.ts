import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The standalone hub as a child process: run to completion, or started and talked to. */

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = join(ROOT, 'src/server/cli.ts');
/**
 * Hubs started by tests keep their history in memory unless a test asks for a store (`--store`
 * and `--redis` flags win over the environment): the default sqlite store would put every test
 * hub on the one `./ssehub-data` directory, where only one may run.
 */
export const MEMORY_STORE_UNLESS_GIVEN = { SSEHUB_STORE: 'memory' } as const;

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
    cwd: ROOT,
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

export interface ExitResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the hub CLI from source to completion (for start-up failures); kills it after `timeoutMs`. */
export async function runHubCli(args: readonly string[], timeoutMs = 15_000): Promise<ExitResult> {
  const child = runCli(args);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  try {
    const result = await exited(child);
    return { ...result, signal: result.signal as NodeJS.Signals | null };
  } finally {
    clearTimeout(timer);
  }
}

/** The standalone hub as a real child process (`node --import tsx src/server/cli.ts`). */
export class HubProcess {
  port = 0;
  stderr = '';
  private child: ChildProcess | undefined;

  private constructor(private readonly args: readonly string[]) {}

  /** Starts a hub on a free loopback port with these extra CLI arguments. */
  static async start(args: readonly string[]): Promise<HubProcess> {
    const hub = new HubProcess(args);
    await hub.launch(0);
    return hub;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get hubUrl(): string {
    return `${this.url}/.well-known/mercure`;
  }

  /** Starts the hub again on the same port (after `kill`). */
  restart(): Promise<void> {
    if (this.child) throw new Error('hub process is still running');
    return this.launch(this.port);
  }

  /** Sends `signal` and waits for the process to exit. */
  async kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    await exited;
    this.child = undefined;
  }

  private launch(port: number): Promise<void> {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', CLI, '--host', '127.0.0.1', '--port', String(port), '--no-demo', ...this.args],
      {
        cwd: ROOT,
        env: { ...process.env, ...MEMORY_STORE_UNLESS_GIVEN },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    this.child = child;
    child.stderr?.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    return new Promise((resolve, reject) => {
      let stdout = '';
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`hub did not start in 20 s: ${this.stderr.trim()}`));
      }, 20_000);
      child.stdout?.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        const match = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stdout);
        if (!match) return;
        clearTimeout(timer);
        this.port = Number(match[1]);
        resolve();
      });
      child.once('exit', (code) => {
        if (this.child === child) this.child = undefined;
        clearTimeout(timer);
        reject(new Error(`hub exited with ${code} before listening: ${this.stderr.trim()}`));
      });
    });
  }
}
