/**
 * Publish throughput of the standalone hub (`npm run bench:publish`) over HTTP, per store, in one run: sequential (one
 * publisher, one keep-alive connection) and with 64 concurrent publishers on keep-alive connections.
 *
 *   node --import tsx bench/publish-throughput.ts [--seconds 5] [--stores memory,sqlite,sqlite-normal,redis-aof]
 *
 * Each hub runs from source (`src/server/cli.ts` through tsx) on a fresh data directory or Redis.
 * Prints one JSON line per store and a Markdown table with the ratio to the memory store.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuMs, freePort, waitForPort } from './systems.js';

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(ROOT, 'src/server/cli.ts');

interface StoreSetup {
  env: Record<string, string>;
  cleanup(): Promise<void>;
}

const STORES: Record<string, () => Promise<StoreSetup>> = {
  memory: () => Promise.resolve({ env: { SSEHUB_STORE: 'memory' }, cleanup: () => Promise.resolve() }),
  sqlite: () => sqlite('full'),
  'sqlite-normal': () => sqlite('normal'),
  'redis-aof': redisAof,
};

function sqlite(sync: 'full' | 'normal'): Promise<StoreSetup> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'ssehub-publish-bench-'));
  return Promise.resolve({
    env: { SSEHUB_STORE: 'sqlite', SSEHUB_DATA_DIR: dataDir, SSEHUB_SYNC: sync },
    cleanup: () => Promise.resolve(rmSync(dataDir, { recursive: true, force: true })),
  });
}

/** Redis with its append-only file synced every second, the usual durable Redis setup. */
async function redisAof(): Promise<StoreSetup> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ssehub-publish-bench-redis-'));
  const redis = spawn(
    'redis-server',
    // prettier-ignore
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec'],
    { stdio: 'ignore' },
  );
  await waitForPort(port, 10_000);
  return {
    env: { SSEHUB_REDIS_URL: `redis://127.0.0.1:${port}` },
    cleanup: async () => {
      await stop(redis);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function startHub(env: Record<string, string>): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', CLI], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: {
      ...process.env,
      ...env,
      SSEHUB_PORT: String(port),
      SSEHUB_HOST: '127.0.0.1',
      SSEHUB_DEMO: 'false',
      SSEHUB_PUBLISH_RATE: '0',
      SSEHUB_LOG_LEVEL: 'warn',
      SSEHUB_HISTORY_SIZE: '100000',
    },
  });
  const url = `http://127.0.0.1:${port}`;
  for (let tries = 0; ; tries++) {
    try {
      await fetch(`${url}/healthz`);
      return { child, url };
    } catch {
      if (tries > 200 || child.exitCode !== null) throw new Error('hub did not start');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

const BODY = new URLSearchParams({ topic: 'urn:bench:publish', data: 'x'.repeat(100) }).toString();

function publishOnce(url: string, agent: http.Agent): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}/.well-known/mercure`, {
      method: 'POST',
      agent,
      headers: {
        'Content-Type': 'application/x-www-form-urlencoded',
        'Content-Length': Buffer.byteLength(BODY),
      },
    });
    req.on('error', reject);
    req.on('response', (res) => {
      res.resume();
      res.on('end', () =>
        res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`)),
      );
    });
    req.end(BODY);
  });
}

/** Publishes per second from `publishers` loops sharing keep-alive connections, over `seconds`. */
async function measure(url: string, publishers: number, seconds: number): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: publishers });
  const until = Date.now() + seconds * 1000;
  let done = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: publishers }, async () => {
      while (Date.now() < until) {
        await publishOnce(url, agent);
        done++;
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  agent.destroy();
  return done / elapsed;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const option = (name: string, fallback: string) => {
    const index = args.indexOf(`--${name}`);
    return index >= 0 ? (args[index + 1] ?? fallback) : fallback;
  };
  const seconds = Number(option('seconds', '5'));
  const stores = option('stores', 'memory,sqlite,sqlite-normal,redis-aof').split(',');
  const results: { store: string; sequential: number; concurrent64: number; hubCpuMs: number }[] = [];
  for (const store of stores) {
    const setup = await (STORES[store] ?? (() => Promise.reject(new Error(`unknown store ${store}`))))();
    const hub = await startHub(setup.env);
    try {
      await measure(hub.url, 8, 1); // warm-up: JIT, connections, SQLite page cache
      const cpuBefore = cpuMs(hub.child.pid as number);
      const sequential = await measure(hub.url, 1, seconds);
      const concurrent64 = await measure(hub.url, 64, seconds);
      const hubCpuMs = cpuMs(hub.child.pid as number) - cpuBefore;
      const result = {
        store,
        sequential: Math.round(sequential),
        concurrent64: Math.round(concurrent64),
        hubCpuMs,
      };
      console.log(JSON.stringify(result));
      results.push(result);
    } finally {
      await stop(hub.child);
      await setup.cleanup();
    }
  }
  const memory = results.find((r) => r.store === 'memory');
  console.log(
    '\n| Store | Sequential (publishes/s) | 64 concurrent (publishes/s) | 64 concurrent vs memory |',
  );
  console.log('|---|---|---|---|');
  for (const r of results) {
    const ratio = memory ? (r.concurrent64 / memory.concurrent64).toFixed(2) : 'n/a';
    console.log(`| ${r.store} | ${r.sequential} | ${r.concurrent64} | ${ratio}× |`);
  }
}

await main();
