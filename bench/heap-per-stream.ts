/**
 * What one idle event stream keeps alive in the server's JavaScript heap, and of which kinds of
 * objects: the server runs in this process, N subscribers connect from a load worker process, and
 * two heap snapshots (before and after, each after full collections) are compared.
 *
 *   npm run bench:heap                                   # ssehub (standalone hub), 4,000 streams
 *   npm run bench:heap -- --system=plain-node --n=2000   # the plain node:http comparator
 *
 * Systems: `ssehub` (createHubServer with an info log to /dev/null, as the CLI runs it),
 * `ssehub-handler` (createMercureHandler on a bare node:http server), `plain-node`.
 */
import { createServer } from 'node:http';
import type { Server, ServerResponse } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import pino from 'pino';
import { Hub } from '../src/hub/hub.js';
import { createMercureHandler } from '../src/http/mercure.js';
import { createLogger } from '../src/ops/logger.js';
import { createHubServer } from '../src/server/app.js';
import { MemoryStore } from '../src/store/memory.js';
import type { ConnectCommand } from './load-worker.js';
import { WorkerPool } from './worker-pool.js';

interface Options {
  system: string;
  n: number;
  top: number;
}

function parseOptions(argv: readonly string[]): Options {
  const flags = new Map(
    argv.filter((arg) => arg.startsWith('--')).map((arg) => arg.slice(2).split('=', 2) as [string, string]),
  );
  return {
    system: flags.get('system') ?? 'ssehub',
    n: Number(flags.get('n') ?? 4000),
    top: Number(flags.get('top') ?? 20),
  };
}

interface RunningServer {
  port: number;
  path: string;
  stop(): Promise<void>;
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function startSystem(system: string): Promise<RunningServer> {
  if (system === 'ssehub') {
    const logger = createLogger({ level: 'info', destination: pino.destination('/dev/null') });
    const hubServer = createHubServer({ config: { port: 0, host: '127.0.0.1', demo: false }, logger });
    const url = await hubServer.listen();
    return {
      port: Number(new URL(url).port),
      path: '/.well-known/mercure?topic=bench',
      stop: () => hubServer.close(1000),
    };
  }
  if (system === 'ssehub-handler') {
    const hub = new Hub({ store: new MemoryStore() });
    const mercure = createMercureHandler(hub);
    const server = createServer(mercure);
    const port = await listen(server);
    return {
      port,
      path: '/.well-known/mercure?topic=bench',
      async stop() {
        await hub.close();
        server.closeAllConnections();
        server.close();
      },
    };
  }
  if (system === 'plain-node') {
    const streams = new Set<ServerResponse>();
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write(':\n\n');
      streams.add(res);
      res.on('close', () => streams.delete(res));
    });
    const port = await listen(server);
    return {
      port,
      path: '/sse',
      async stop() {
        server.closeAllConnections();
        server.close();
      },
    };
  }
  throw new Error(`unknown system "${system}" (ssehub, ssehub-handler, plain-node)`);
}

const gc = (globalThis as { gc?: () => void }).gc;

async function settledHeap(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc?.();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return process.memoryUsage().heapUsed;
}

type Totals = Map<string, { count: number; bytes: number }>;

/** Self size and count per object kind (`type name`); strings and code are lumped together. */
function snapshotTotals(dir: string, name: string): Totals {
  const file = v8.writeHeapSnapshot(path.join(dir, `${name}.heapsnapshot`));
  const snapshot = JSON.parse(readFileSync(file, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snapshot.snapshot.meta.node_fields;
  const types = snapshot.snapshot.meta.node_types[0];
  const [typeAt, nameAt, sizeAt, width] = [
    fields.indexOf('type'),
    fields.indexOf('name'),
    fields.indexOf('self_size'),
    fields.length,
  ];
  const totals: Totals = new Map();
  for (let i = 0; i < snapshot.nodes.length; i += width) {
    const type = types[snapshot.nodes[i + typeAt] as number] as string;
    let label = snapshot.strings[snapshot.nodes[i + nameAt] as number] as string;
    if (type.includes('string')) label = '(strings)';
    else if (type === 'code') label = '(compiled code)';
    const key = `${type} ${label.slice(0, 60)}`;
    const total = totals.get(key) ?? { count: 0, bytes: 0 };
    total.count++;
    total.bytes += snapshot.nodes[i + sizeAt] as number;
    totals.set(key, total);
  }
  rmSync(file);
  return totals;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (!gc) throw new Error('run with --expose-gc (npm run bench:heap does)');
  const dir = mkdtempSync(path.join(tmpdir(), 'ssehub-heap-'));
  const server = await startSystem(options.system);
  const worker = new WorkerPool(1);
  try {
    const heapBefore = await settledHeap();
    const before = snapshotTotals(dir, 'before');
    const rssBefore = process.memoryUsage().rss;
    const command: ConnectCommand = {
      type: 'connect',
      port: server.port,
      path: server.path,
      count: options.n,
      localAddresses: Array.from({ length: 10 }, (_, k) => `127.0.0.${2 + k}`),
      concurrency: 64,
      timeoutMs: 30_000,
    };
    const connected = await worker.ask(0, command, 'connected', 120_000);
    if (connected.open !== options.n)
      throw new Error(`only ${connected.open} of ${options.n} streams opened`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const heapAfter = await settledHeap();
    const rssAfter = process.memoryUsage().rss;
    const after = snapshotTotals(dir, 'after');
    const n = options.n;
    const rows = [...after].map(([key, total]) => {
      const base = before.get(key) ?? { count: 0, bytes: 0 };
      return { key, count: (total.count - base.count) / n, bytes: (total.bytes - base.bytes) / n };
    });
    rows.sort((a, b) => b.bytes - a.bytes);
    console.log(`${options.system}: ${n} idle streams, Node ${process.version}`);
    console.log(
      `heap per stream (heapUsed after GC): ${((heapAfter - heapBefore) / n / 1024).toFixed(2)} KB`,
    );
    console.log(
      `RSS per stream (this process; includes the heap's growth and slack): ${((rssAfter - rssBefore) / n / 1024).toFixed(2)} KB`,
    );
    console.log(`\nbytes/stream  objects/stream  kind (heap snapshot diff)`);
    for (const row of rows.slice(0, options.top)) {
      console.log(`${row.bytes.toFixed(0).padStart(12)}  ${row.count.toFixed(2).padStart(14)}  ${row.key}`);
    }
    await worker.ask(0, { type: 'disconnect' }, 'disconnected', 30_000);
  } finally {
    worker.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
