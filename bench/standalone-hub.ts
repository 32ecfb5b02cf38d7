/**
 * The built standalone hub (`node dist/server/cli.js`) as a child process, for the durable-store
 * benches: started on a loopback port with given flags, timed from its "listening" log line, and
 * stopped with a signal.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import path from 'node:path';
import { clockMs } from './ledger.js';

const ROOT = path.resolve(import.meta.dirname, '..');
export const BUILT_CLI = path.join(ROOT, 'dist', 'server', 'cli.js');

export class StandaloneHub {
  /** clockMs() when the hub's "listening" line was read. */
  readonly listeningAt: number;
  stderr = '';

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
    listeningAt: number,
  ) {
    this.listeningAt = listeningAt;
  }

  /**
   * Starts the hub with `args` (plus host, port and no demo) and waits until it listens. Its log
   * (stdout) goes to `logFile` when given, and is discarded otherwise.
   */
  static start(
    port: number,
    args: readonly string[],
    { timeoutMs = 30_000, logFile }: { timeoutMs?: number; logFile?: string } = {},
  ): Promise<StandaloneHub> {
    if (!existsSync(BUILT_CLI)) throw new Error(`${BUILT_CLI} is missing: run \`npm run build\` first`);
    const child = spawn(
      process.execPath,
      [BUILT_CLI, '--host', '127.0.0.1', '--port', String(port), '--no-demo', ...args],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env } },
    );
    if (logFile !== undefined) child.stdout?.pipe(createWriteStream(logFile));
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    return new Promise((resolve, reject) => {
      let stdout = '';
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`hub did not listen within ${timeoutMs} ms: ${stderr.trim()}`));
      }, timeoutMs);
      const onExit = (code: number | null): void => {
        clearTimeout(timer);
        reject(new Error(`hub exited with ${code} before listening: ${stderr.trim()}`));
      };
      child.once('exit', onExit);
      const onData = (chunk: Buffer): void => {
        stdout += chunk.toString();
        if (!/listening on http:\/\/127\.0\.0\.1:\d+/.test(stdout)) return;
        const at = clockMs();
        clearTimeout(timer);
        child.off('exit', onExit);
        // Keep draining the log (one line per stream closed at info level) so the hub never blocks on it.
        child.stdout?.off('data', onData);
        if (logFile === undefined) child.stdout?.resume();
        const hub = new StandaloneHub(child, port, at);
        child.stderr?.on('data', (more: Buffer) => (hub.stderr += more.toString()));
        hub.stderr = stderr;
        resolve(hub);
      };
      child.stdout?.on('data', onData);
    });
  }

  get pid(): number {
    return this.child.pid as number;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Sends `signal` and resolves with clockMs() once the process has exited. */
  stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve(clockMs());
    return new Promise((resolve) => {
      this.child.once('exit', () => resolve(clockMs()));
      this.child.kill(signal);
    });
  }
}
