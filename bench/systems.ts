/**
 * The systems under test: how to start each on loopback, where subscribers connect, how to publish
 * one event, which processes to weigh for RSS, and how to stop it.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { PublishTarget } from './publish-load.js';

export interface RunningSystem {
  port: number;
  subscribePath: string;
  /** Processes whose RSS is the system's memory. */
  pids(): number[];
  publish(body: string): Promise<void>;
  stop(): Promise<void>;
}

export interface SystemDefinition {
  name: string;
  /** Whether a reconnect with Last-Event-ID gets the events it missed (ssehub, nchan; not the others). */
  replays: boolean;
  /** How to publish with the raw publisher (`bench/publish-load.ts`): to topic `bench`, or per user. */
  publishTarget: PublishTarget;
  /** The per-user workload (one topic per subscriber), where the system has it. */
  perUser?: { subscribePath: string; publishTarget: PublishTarget };
  /** Why the system cannot run here, or undefined when it can. */
  unavailable(): string | undefined;
  start(options: StartOptions): Promise<RunningSystem>;
}

export interface StartOptions {
  /** Extra node flags for node-based servers (e.g. `--cpu-prof`). */
  nodeFlags?: string[];
  /** Where to write logs and configs. */
  workDir: string;
}

const repoRoot = path.resolve(import.meta.dirname, '..');

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export function rssKb(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

/** CPU time (user + system) the process has used so far, in ms; 0 once it is gone. */
export function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** `getconf CLK_TCK`: the unit of /proc/<pid>/stat times (100 on Linux everywhere we run). */
const CLOCK_TICKS_PER_SECOND = (() => {
  const answer = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const value = Number(answer.stdout?.trim());
  return Number.isFinite(value) && value > 0 ? value : 100;
})();

function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve();
    }, timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Waits for a `listening <port>` line on the child's stdout. */
function announcedPort(child: ChildProcess, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(
      () => reject(new Error(`no "listening" line within ${timeoutMs} ms: ${output}`)),
      timeoutMs,
    );
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (text: string) => {
      output += text;
      const match = /listening (?:on )?(?:\S*:)?(\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening: ${output}`));
    });
  });
}

export async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`port ${port} not accepting connections after ${timeoutMs} ms`);
}

const publishAgent = new http.Agent({ keepAlive: true, maxSockets: 16 });

function post(port: number, pathName: string, body: string, headers: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: '127.0.0.1',
        port,
        path: pathName,
        method: 'POST',
        agent: publishAgent,
        headers: { 'content-length': Buffer.byteLength(body), ...headers },
      },
      (response) => {
        response.resume();
        response.on('end', () => {
          const status = response.statusCode ?? 0;
          if (status >= 200 && status < 300) resolve();
          else reject(new Error(`publish answered HTTP ${status}`));
        });
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

/** A server script run by Node (with tsx), or by Bun or Deno (their npm packages' binaries). */
function nodeServer(name: string, script: string, runtime?: 'bun' | 'deno'): SystemDefinition {
  const binary = runtime && path.join(repoRoot, 'node_modules', '.bin', runtime);
  return {
    name,
    replays: false,
    publishTarget: { path: '/publish', contentType: 'text/plain', body: 'raw' },
    unavailable: () =>
      binary && !existsSync(binary) ? `${runtime} not installed (npm ci installs it)` : undefined,
    async start(options) {
      const [command, args] = !binary
        ? [process.execPath, [...(options.nodeFlags ?? []), '--import', 'tsx', script, '0']]
        : runtime === 'bun'
          ? [binary, [script, '0']]
          : [binary, ['run', '--allow-all', '--unstable-sloppy-imports', '--quiet', script, '0']];
      const child = spawn(command, args, {
        cwd: repoRoot,
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const port = await announcedPort(child, 20_000);
      return {
        port,
        subscribePath: '/sse',
        pids: () => (child.pid ? [child.pid] : []),
        publish: (body) => post(port, '/publish', body, { 'content-type': 'text/plain' }),
        async stop() {
          child.kill('SIGTERM');
          await waitForExit(child, 10_000);
        },
      };
    },
  };
}

const SSEHUB_CLI = path.join(repoRoot, 'dist/server/cli.js');

type RedisPersistence = 'none' | 'aof-everysec';

/** A throwaway redis-server on a free loopback port: no persistence, or an AOF synced every second. */
async function startRedis(
  persistence: RedisPersistence,
  workDir: string,
): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const dataDir = path.join(workDir, `redis-${port}`);
  mkdirSync(dataDir, { recursive: true });
  const durability =
    persistence === 'aof-everysec'
      ? ['--appendonly', 'yes', '--appendfsync', 'everysec']
      : ['--appendonly', 'no'];
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dataDir,
      '--save',
      '',
      ...durability,
      '--maxclients',
      '1000',
    ],
    { stdio: 'ignore' },
  );
  await waitForPort(port, 10_000);
  return {
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      child.kill('SIGTERM');
      await waitForExit(child, 10_000);
    },
  };
}

/** The standalone hub, as users run it: `node dist/server/cli.js` (after `npm run build`). */
const MERCURE_PATH = '/.well-known/mercure';
const FORM = 'application/x-www-form-urlencoded';

function ssehubCli(
  name: string,
  store: 'memory' | 'redis' | 'sqlite',
  cli = SSEHUB_CLI,
  redisPersistence: RedisPersistence = 'none',
  extraEnv: Record<string, string> = {},
): SystemDefinition {
  return {
    name,
    replays: true,
    publishTarget: { path: MERCURE_PATH, contentType: FORM, body: 'form', topic: 'bench' },
    perUser: {
      subscribePath: `${MERCURE_PATH}?topic=user%2F{i}`,
      publishTarget: { path: MERCURE_PATH, contentType: FORM, body: 'form', topic: 'user/{user}' },
    },
    unavailable: () => {
      if (!existsSync(cli)) return `${cli} not built (npm run build)`;
      if (store === 'redis' && spawnSync('redis-server', ['--version']).status !== 0)
        return 'redis-server not installed';
      return undefined;
    },
    async start(options) {
      const redis = store === 'redis' ? await startRedis(redisPersistence, options.workDir) : undefined;
      // A fresh history per run: a previous run's events would otherwise be replayed.
      const dataDir = store === 'sqlite' ? mkdtempSync(path.join(os.tmpdir(), 'ssehub-bench-')) : undefined;
      const port = await freePort();
      const child = spawn(process.execPath, [...(options.nodeFlags ?? []), cli], {
        cwd: repoRoot,
        // Its info log (a line per stream opened and closed) goes to /dev/null: a pipe that the busy
        // coordinator drains late would stall the hub's synchronous logger and bill the hub for it.
        stdio: ['ignore', 'ignore', 'pipe'],
        env: {
          ...process.env,
          SSEHUB_HOST: '127.0.0.1',
          SSEHUB_PORT: String(port),
          SSEHUB_DEMO: 'false',
          // The bench publishes up to 1,000 events/s from one client; the open hub must not throttle it.
          SSEHUB_PUBLISH_RATE: '0',
          ...(redis ? { SSEHUB_REDIS_URL: redis.url } : {}),
          ...(store === 'memory' ? { SSEHUB_STORE: 'memory' } : {}),
          ...(dataDir ? { SSEHUB_STORE: 'sqlite', SSEHUB_DATA_DIR: dataDir } : {}),
          ...extraEnv,
        },
      });
      // The open-hub warning is expected here; anything else on stderr is shown.
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (text: string) => {
        const lines = text
          .split('\n')
          .filter((line) => line && !line.includes('no authorization is configured'));
        if (lines.length) process.stderr.write(`${lines.join('\n')}\n`);
      });
      const exited = new Promise<never>((_, reject) =>
        child.once('exit', (code) => reject(new Error(`ssehub exited with ${code}`))),
      );
      exited.catch(() => undefined);
      await Promise.race([waitForPort(port, 20_000), exited]);
      return {
        port,
        subscribePath: '/.well-known/mercure?topic=bench',
        pids: () => (child.pid ? [child.pid] : []),
        publish: (body) =>
          post(port, '/.well-known/mercure', new URLSearchParams({ topic: 'bench', data: body }).toString(), {
            'content-type': 'application/x-www-form-urlencoded',
          }),
        async stop() {
          child.kill('SIGTERM');
          await waitForExit(child, 15_000);
          await redis?.stop();
          if (dataDir) rmSync(dataDir, { recursive: true, force: true });
        },
      };
    },
  };
}

function nginxConfig(dir: string, port: number): string {
  return `worker_processes 1;
worker_rlimit_nofile 20000;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
load_module /usr/lib/nginx/modules/ngx_nchan_module.so;
events { worker_connections 19990; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location = /sse { nchan_subscriber eventsource; nchan_channel_id bench; }
    # The buffer holds a whole storm (bench/storm.ts publishes at most 5,000 events per case), so
    # that a reconnect's Last-Event-ID always finds its place in it.
    location = /publish { nchan_publisher; nchan_channel_id bench; nchan_message_buffer_length 5000; }
    # The per-user workload: one channel per user.
    location ~ ^/sub/([0-9]+)$ { nchan_subscriber eventsource; nchan_channel_id user$1; }
    location ~ ^/pub/([0-9]+)$ { nchan_publisher; nchan_channel_id user$1; nchan_message_buffer_length 10; }
  }
}
`;
}

export const NCHAN_MODULE = '/usr/lib/nginx/modules/ngx_nchan_module.so';

/** Installs nginx + nchan with apt-get when missing; returns a note when that is not possible. */
export function ensureNchan(): string | undefined {
  const present = (): boolean => existsSync('/usr/sbin/nginx') && existsSync(NCHAN_MODULE);
  if (present()) return undefined;
  console.log('nginx/nchan missing: installing with apt-get (nginx libnginx-mod-nchan)…');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  spawnSync('apt-get', ['update', '-qq'], { stdio: 'ignore', env, timeout: 300_000 });
  const install = spawnSync('apt-get', ['install', '-y', '-qq', 'nginx', 'libnginx-mod-nchan'], {
    stdio: 'ignore',
    env,
    timeout: 600_000,
  });
  if (present()) return undefined;
  return `nginx+nchan not installable here (apt-get exit ${install.status ?? install.error?.message})`;
}

const nchan: SystemDefinition = {
  name: 'nchan',
  replays: true,
  publishTarget: { path: '/publish', contentType: 'text/plain', body: 'raw' },
  perUser: {
    subscribePath: '/sub/{i}',
    publishTarget: { path: '/pub/{user}', contentType: 'text/plain', body: 'raw' },
  },
  unavailable: () =>
    existsSync('/usr/sbin/nginx') && existsSync(NCHAN_MODULE) ? undefined : 'nginx + nchan not installed',
  async start(options) {
    const dir = path.join(options.workDir, 'nginx');
    mkdirSync(dir, { recursive: true });
    const port = await freePort();
    const confPath = path.join(dir, 'nginx.conf');
    writeFileSync(confPath, nginxConfig(dir, port));
    const child = spawn('/usr/sbin/nginx', ['-p', dir, '-c', confPath, '-e', path.join(dir, 'error.log')], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    await waitForPort(port, 10_000);
    return {
      port,
      subscribePath: '/sse',
      pids: () => (child.pid ? [child.pid, ...childPids(child.pid)] : []),
      publish: (body) => post(port, '/publish', body, { 'content-type': 'text/plain' }),
      async stop() {
        child.kill('SIGTERM');
        await waitForExit(child, 10_000);
      },
    };
  },
};

const BEFORE_CLI = path.join(process.env.SSEHUB_BENCH_BEFORE ?? '/nonexistent', 'server/cli.js');

export const ALL_SYSTEMS: SystemDefinition[] = [
  ssehubCli('ssehub', 'memory'),
  ssehubCli('ssehub-redis', 'redis'),
  ssehubCli('ssehub-sqlite', 'sqlite'),
  // Redis as one would run it for durability: an append-only file synced once a second.
  ssehubCli('ssehub-redis-aof', 'redis', SSEHUB_CLI, 'aof-everysec'),
  // A storm opens thousands of connections before any carries a stream: this one measures the
  // hub without its limit on such connections (--max-non-stream-connections, 1,000 by default).
  ssehubCli('ssehub-nolimit', 'memory', SSEHUB_CLI, 'none', { SSEHUB_MAX_NON_STREAM_CONNECTIONS: '0' }),
  // A/B runs of a change: copy dist/ aside before it (cp -r dist bench/results/before) and name the copy.
  ssehubCli('ssehub-before', 'memory', BEFORE_CLI),
  ssehubCli('ssehub-before-redis-aof', 'redis', BEFORE_CLI, 'aof-everysec'),
  nodeServer('ssehub-core', 'bench/servers/ssehub-core.ts'),
  nodeServer('plain-node', 'bench/servers/plain-http.ts'),
  nodeServer('better-sse', 'bench/servers/better-sse.ts'),
  // Issue 15: the library's node:http handlers beside its Fetch handler, on Node, Bun and Deno.
  nodeServer('ssehub-http', 'bench/servers/ssehub-http.ts'),
  nodeServer('ssehub-fetch', 'bench/servers/ssehub-fetch.ts'),
  nodeServer('ssehub-fetch-bun', 'bench/servers/ssehub-fetch.ts', 'bun'),
  nodeServer('ssehub-fetch-deno', 'bench/servers/ssehub-fetch.ts', 'deno'),
  nchan,
];
