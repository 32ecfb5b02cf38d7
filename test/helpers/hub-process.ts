import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(REPO_ROOT, 'src', 'server', 'cli.ts');
/**
 * Hubs started by tests keep their history in memory unless a test asks for a store (`--store`
 * and `--redis` flags win over the environment): the default sqlite store would put every test
 * hub on the one `./ssehub-data` directory, where only one may run.
 */
export const MEMORY_STORE_UNLESS_GIVEN = { SSEHUB_STORE: 'memory' } as const;

export interface ExitResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the hub CLI to completion (for start-up failures); kills it after `timeoutMs`. */
export function runHubCli(args: readonly string[], timeoutMs = 15_000): Promise<ExitResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...MEMORY_STORE_UNLESS_GIVEN },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
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
        cwd: REPO_ROOT,
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
