import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CANDIDATES = [process.env.REDIS_SERVER, '/usr/bin/redis-server', '/usr/local/bin/redis-server'];

/** Path of a runnable `redis-server`, or undefined. */
export function findRedisServer(): string | undefined {
  for (const candidate of CANDIDATES) if (candidate && existsSync(candidate)) return candidate;
  const which = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  const found = which.stdout.trim();
  return which.status === 0 && found ? found : undefined;
}

/**
 * Whether Redis-backed tests can run. Without the binary they are skipped with a loud message, but
 * under CI a missing Redis is a failure: the suite reports it instead of silently shrinking.
 */
export function redisAvailable(suite: string): boolean {
  if (findRedisServer()) return true;
  const message = `redis-server not found: ${suite} cannot run (install the redis-server package)`;
  if (process.env.CI) throw new Error(`${message}; CI requires it`);
  console.warn(`\n*** SKIPPING ${suite}: ${message} ***\n`);
  return false;
}

export interface RedisServerOptions {
  /** Append-only file with fsync on every write: acknowledged writes survive a restart. */
  appendOnly?: boolean;
  /** More `redis-server` arguments, e.g. `['--cluster-enabled', 'yes']` or `['--replicaof', …]`. */
  extraArgs?: readonly string[];
}

/** A real `redis-server` on a free loopback port, with its own data directory. */
export class RedisServer {
  readonly port: number;
  readonly dir: string;
  private readonly binary: string;
  private readonly appendOnly: boolean;
  private readonly extraArgs: readonly string[];
  private child: ChildProcess | undefined;

  private constructor(
    binary: string,
    port: number,
    dir: string,
    appendOnly: boolean,
    extraArgs: readonly string[],
  ) {
    this.binary = binary;
    this.port = port;
    this.dir = dir;
    this.appendOnly = appendOnly;
    this.extraArgs = extraArgs;
  }

  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    const binary = findRedisServer();
    if (!binary) throw new Error('redis-server not found');
    const dir = mkdtempSync(join(tmpdir(), 'ssehub-redis-'));
    const server = new RedisServer(
      binary,
      await freePort(),
      dir,
      options.appendOnly ?? false,
      options.extraArgs ?? [],
    );
    await server.restart();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Starts (again) on the same port with the same data directory. */
  async restart(): Promise<void> {
    if (this.child) throw new Error('redis-server is already running');
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--dir',
      this.dir,
      '--save',
      '',
      '--daemonize',
      'no',
      '--loglevel',
      'warning',
    ];
    if (this.appendOnly) args.push('--appendonly', 'yes', '--appendfsync', 'always');
    args.push(...this.extraArgs);
    const child = spawn(this.binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${stderr.trim()}`))),
    );
    exited.catch(() => undefined);
    try {
      await Promise.race([waitForPort(this.port, 10_000), exited]);
    } catch (error) {
      child.kill('SIGKILL');
      this.child = undefined;
      throw error;
    }
    child.once('exit', () => {
      if (this.child === child) this.child = undefined;
    });
  }

  /** Stops the server: SIGTERM by default (Redis finishes its AOF), SIGKILL to simulate a crash. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    await exited;
    this.child = undefined;
  }

  /** Sends a signal without waiting, e.g. SIGSTOP / SIGCONT to make the server hang and resume. */
  signal(signal: NodeJS.Signals): void {
    this.child?.kill(signal);
  }

  /** Stops the server and removes its data directory. */
  async destroy(): Promise<void> {
    this.signal('SIGCONT');
    await this.stop('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`redis-server did not open port ${port} in ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
