/**
 * `npm run bench:deploy-storm`: a deploy of a single standalone hub under 10,000 subscribers.
 *
 * The subscribers (raw sockets, spread over load worker processes, each resuming with its last
 * event id like an EventSource) are connected to `node dist/server/cli.js`; a publisher publishes
 * at a steady rate, retrying through refusals; the hub is stopped with SIGTERM and started again on
 * the same data directory. Reported per run: shutdown time, time from the new process listening
 * until every subscriber is reconnected and until every subscriber has caught up (received the
 * first event the new process accepted on its topic, hence everything before it), the hub's CPU and
 * RSS over that storm, and the delivery accounting: lost, duplicated, out-of-order, resets.
 *
 *   bash bench/with-fd-limit.sh bench/deploy-storm.ts [--subscribers=10000] [--stores=sqlite,memory]
 *     [--runs=2] [--workers=4] [--topics=10] [--rate=20] [--before-ms=4000] [--after-ms=4000]
 *
 * With `--store memory` the restart loses the history: every subscriber is told so with a reset.
 * Every wait is bounded; the whole run stops at --max-minutes.
 */
import { loadavg } from 'node:os';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { clockMs, median } from './ledger.js';
import { machine } from './run.js';
import { StandaloneHub } from './standalone-hub.js';
import { StormPublisher } from './storm-publisher.js';
import type { StormCommand, StormReply, StormVerdict, TopicExpectation } from './storm-worker.js';
import { cpuMs, freePort, rssKb } from './systems.js';
import { WorkerPool } from './worker-pool.js';
import { parseFlags } from './flags.js';

interface Options {
  subscribers: number;
  stores: string[];
  runs: number;
  workers: number;
  topics: number;
  rate: number;
  beforeMs: number;
  afterMs: number;
  reconnectDelayMs: [number, number];
  maxMinutes: number;
  out: string;
}

function parseOptions(argv: string[]): Options {
  const flags = parseFlags(argv);
  const number = (name: string, fallback: number): number => Number(flags.get(name) ?? fallback);
  const subscribers = number('subscribers', 10_000);
  if (!Number.isInteger(subscribers) || subscribers < 1 || subscribers > 19_000) {
    throw new Error('--subscribers must be in 1..19000 (the hub may hold at most 20,000 open files)');
  }
  return {
    subscribers,
    stores: (flags.get('stores') ?? 'sqlite,memory').split(',').filter(Boolean),
    runs: number('runs', 2),
    workers: number('workers', 4),
    topics: number('topics', 10),
    rate: number('rate', 20),
    beforeMs: number('before-ms', 4000),
    afterMs: number('after-ms', 4000),
    reconnectDelayMs: [number('reconnect-min-ms', 100), number('reconnect-max-ms', 500)],
    maxMinutes: number('max-minutes', 15),
    out: flags.get('out') ?? path.join('bench', 'results', 'deploy-storm.json'),
  };
}

interface StormResult {
  store: string;
  run: number;
  loadAverage: number[];
  open: number;
  connectMs: number;
  shutdownMs: number;
  /** From the old process exiting to the new one listening (process start and store open). */
  startMs: number;
  /** From listening until every subscriber had a stream (a 200) from the new process. */
  allReconnectedMs: number;
  /** From listening until every subscriber had received its topic's marker event. */
  allCaughtUpMs: number;
  caughtUpMedianMs: number;
  /** From listening until the last topic's marker publish was answered. */
  lastMarkerAcceptedMs: number;
  /** Reconnection time from listening, per subscriber: 50th, 90th and 99th percentiles. */
  reconnectedPercentilesMs: number[];
  /**
   * Connections the kernel dropped because a listen queue was full, machine-wide, during the storm
   * (/proc/net/netstat ListenOverflows): each one costs its client a SYN retransmission (1 s, 3 s…).
   */
  listenOverflows: number;
  stormCpuPercent: number;
  stormPeakRssMb: number;
  steadyRssMb: number;
  published: number;
  unknownOutcome: number;
  publishRefusals: number;
  verdict: Omit<StormVerdict, 'caughtUpMs' | 'reconnectedMs'>;
  error?: string;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const TOPIC_PREFIX = 'urn:storm:';
type Pool = WorkerPool<StormCommand, StormReply>;

function percentile(values: readonly number[], fraction: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))] as number;
}

/** The kernel's count of connections dropped on a full listen queue (all sockets of the machine). */
function listenOverflows(): number {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
    const [names, values] = lines.filter((line) => line.startsWith('TcpExt:')).map((line) => line.split(' '));
    const index = names?.indexOf('ListenOverflows') ?? -1;
    return index > 0 ? Number(values?.[index]) : NaN;
  } catch {
    return NaN;
  }
}

/** Samples a process's RSS (peak) and CPU time until stopped. */
class ProcessSampler {
  peakRssKb = 0;
  private readonly cpuStart: number;
  private readonly startedAt = clockMs();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly pid: number) {
    this.cpuStart = cpuMs(pid);
    this.timer = setInterval(() => (this.peakRssKb = Math.max(this.peakRssKb, rssKb(pid))), 50);
  }

  /** Stops sampling; returns the CPU used since the start as a percentage of one core. */
  stop(): number {
    clearInterval(this.timer);
    this.peakRssKb = Math.max(this.peakRssKb, rssKb(this.pid));
    return ((cpuMs(this.pid) - this.cpuStart) / (clockMs() - this.startedAt)) * 100;
  }
}

function hubArgs(store: string, dataDir: string): string[] {
  const storeArgs = store === 'memory' ? ['--store', 'memory'] : ['--store', 'sqlite', '--data-dir', dataDir];
  // No publish rate limit and no per-subject cap: every bench subscriber is anonymous.
  return [...storeArgs, '--publish-rate', '0', '--max-connections-per-subject', '0'];
}

async function connectAll(pool: Pool, options: Options, port: number): Promise<{ open: number; ms: number }> {
  const share = (index: number): number =>
    Math.floor(options.subscribers / pool.size) + (index < options.subscribers % pool.size ? 1 : 0);
  const firstOf = (index: number): number =>
    Array.from({ length: index }, (_, k) => share(k)).reduce((a, b) => a + b, 0);
  const replies = await pool.all(
    (index) => ({
      type: 'connect',
      port,
      first: firstOf(index),
      count: share(index),
      topics: options.topics,
      topicPrefix: TOPIC_PREFIX,
      // Ten source addresses per worker, so reconnects never run out of ephemeral ports.
      localAddresses: Array.from({ length: 10 }, (_, k) => `127.0.0.${2 + index * 10 + k}`),
      concurrency: 64,
      reconnectDelayMs: options.reconnectDelayMs,
    }),
    'connected',
    300_000,
  );
  const failed = replies.find((reply) => reply.failed > 0);
  if (failed) throw new Error(`${failed.failed} subscribers failed to connect: ${failed.firstError}`);
  return {
    open: replies.reduce((sum, reply) => sum + reply.open, 0),
    ms: Math.max(...replies.map((reply) => reply.ms)),
  };
}

/** Polls the workers until `done` holds on the summed progress, or `limitMs` passes; returns when. */
async function waitForProgress(
  pool: Pool,
  command: () => StormCommand,
  done: (caughtUp: number, complete: number) => boolean,
  limitMs: number,
): Promise<boolean> {
  const until = Date.now() + limitMs;
  while (Date.now() < until) {
    const replies = await pool.all(command, 'progress', 30_000);
    const caughtUp = replies.reduce((sum, reply) => sum + reply.caughtUp, 0);
    const complete = replies.reduce((sum, reply) => sum + reply.complete, 0);
    if (done(caughtUp, complete)) return true;
    await sleep(100);
  }
  return false;
}

function expectations(publisher: StormPublisher, topics: number, since: number): TopicExpectation[] {
  const markers = publisher.firstAcceptedAfter(since);
  return Array.from({ length: topics }, (_, topic) => ({
    accepted: publisher.accepted.filter((event) => event.topic === topic).map((event) => event.sequence),
    unknown: publisher.unknown.filter((event) => event.topic === topic).map((event) => event.sequence),
    marker: markers[topic],
  }));
}

function mergeVerdicts(verdicts: StormVerdict[]): StormVerdict {
  const merged: StormVerdict = {
    ...{ subscribers: 0, lost: 0, duplicates: 0, outOfOrder: 0, unexpected: 0, resets: 0 },
    ...{ subscribersReset: 0, notCaughtUp: 0, caughtUpMs: [], reconnectedMs: [], failedAttempts: {} },
  };
  for (const verdict of verdicts) {
    for (const key of ['subscribers', 'lost', 'duplicates', 'outOfOrder', 'unexpected'] as const)
      merged[key] += verdict[key];
    for (const key of ['resets', 'subscribersReset', 'notCaughtUp'] as const) merged[key] += verdict[key];
    merged.caughtUpMs.push(...verdict.caughtUpMs);
    merged.reconnectedMs.push(...verdict.reconnectedMs);
    for (const [status, count] of Object.entries(verdict.failedAttempts))
      merged.failedAttempts[status] = (merged.failedAttempts[status] ?? 0) + count;
  }
  return merged;
}

/** One deploy: connect, publish, SIGTERM, restart, wait for the catch-up, settle, verify. */
async function runStorm(pool: Pool, options: Options, store: string, run: number): Promise<StormResult> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'ssehub-bench-storm-'));
  const port = await freePort();
  const loadBefore = loadavg()[0] ?? NaN;
  const logFile = (life: string): string =>
    path.join(path.dirname(options.out), `deploy-storm-${store}-${run}-${life}.log`);
  let hub = await StandaloneHub.start(port, hubArgs(store, dataDir), { logFile: logFile('before') });
  const publisher = new StormPublisher(port, options.topics, TOPIC_PREFIX, options.rate);
  try {
    const connected = await connectAll(pool, options, port);
    await sleep(1000);
    publisher.start();
    await sleep(options.beforeMs);
    const steadyRssKb = rssKb(hub.pid);
    const stoppingAt = clockMs();
    const exitedAt = await hub.stop('SIGTERM');
    hub = await StandaloneHub.start(port, hubArgs(store, dataDir), { logFile: logFile('after') });
    const since = hub.listeningAt;
    const sampler = new ProcessSampler(hub.pid);
    const overflowsBefore = listenOverflows();
    const caughtUp = await waitForProgress(
      pool,
      () => ({ type: 'progress', markers: publisher.firstAcceptedAfter(exitedAt), lastAccepted: [] }),
      (count) => count >= connected.open,
      120_000,
    );
    const stormCpuPercent = sampler.stop();
    const overflows = listenOverflows() - overflowsBefore;
    await sleep(options.afterMs);
    await publisher.stop();
    // Settle: every subscriber has its topic's last accepted event (bounded).
    const lastAccepted = publisher.lastAccepted();
    await waitForProgress(
      pool,
      () => ({ type: 'progress', markers: [], lastAccepted }),
      (_, complete) => complete >= connected.open,
      60_000,
    );
    const verdicts = await pool.all(
      () => ({ type: 'verify', topics: expectations(publisher, options.topics, exitedAt), since }),
      'verified',
      60_000,
    );
    const merged = mergeVerdicts(verdicts.map((reply) => reply.verdict));
    const markersAcceptedAt = publisher.accepted
      .filter((event) => event.acceptedAt > exitedAt)
      .slice(0, options.topics)
      .map((event) => event.acceptedAt);
    const { caughtUpMs, reconnectedMs, ...verdict } = merged;
    return {
      ...{ store, run, loadAverage: [loadBefore, loadavg()[0] ?? NaN] },
      ...{ open: connected.open, connectMs: connected.ms, shutdownMs: exitedAt - stoppingAt },
      startMs: since - exitedAt,
      allReconnectedMs: reconnectedMs.length === connected.open ? Math.max(...reconnectedMs) : NaN,
      allCaughtUpMs: caughtUp && caughtUpMs.length === connected.open ? Math.max(...caughtUpMs) : NaN,
      caughtUpMedianMs: median(caughtUpMs),
      reconnectedPercentilesMs: [0.5, 0.9, 0.99].map((fraction) => percentile(reconnectedMs, fraction)),
      listenOverflows: overflows,
      lastMarkerAcceptedMs: Math.max(...markersAcceptedAt) - since,
      ...{ stormCpuPercent, stormPeakRssMb: sampler.peakRssKb / 1024, steadyRssMb: steadyRssKb / 1024 },
      published: publisher.accepted.length,
      unknownOutcome: publisher.unknown.length,
      publishRefusals: publisher.refusals,
      verdict,
    };
  } finally {
    await publisher.stop().catch(() => undefined);
    await pool.all(() => ({ type: 'stop' }), 'stopped', 30_000).catch(() => undefined);
    await hub.stop('SIGTERM');
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function describe(result: StormResult): string {
  const v = result.verdict;
  const ms = (value: number): string => (Number.isFinite(value) ? `${Math.round(value)} ms` : 'n/a');
  return (
    `${result.store.padEnd(6)} run ${result.run}: ${result.open} subscribers (connected in ${ms(result.connectMs)}); ` +
    `shutdown ${ms(result.shutdownMs)}, start ${ms(result.startMs)}; from listening: all reconnected ${ms(result.allReconnectedMs)} ` +
    `(p50/p90/p99 ${result.reconnectedPercentilesMs.map(ms).join(' / ')}; listen-queue overflows ${result.listenOverflows}), ` +
    `all caught up ${ms(result.allCaughtUpMs)} (median ${ms(result.caughtUpMedianMs)}; last marker accepted at ${ms(result.lastMarkerAcceptedMs)}); ` +
    `storm CPU ${result.stormCpuPercent.toFixed(0)}%, peak RSS ${result.stormPeakRssMb.toFixed(0)} MB (steady before: ${result.steadyRssMb.toFixed(0)} MB); ` +
    `published ${result.published} (unknown ${result.unknownOutcome}, refused+retried ${result.publishRefusals}); ` +
    `lost ${v.lost}, duplicates ${v.duplicates}, out-of-order ${v.outOfOrder}, unexpected ${v.unexpected}, ` +
    `resets ${v.resets} (${v.subscribersReset} subscribers), not caught up ${v.notCaughtUp}; ` +
    `failed attempts ${JSON.stringify(v.failedAttempts)}; load ${result.loadAverage.map((l) => l.toFixed(1)).join(' → ')}`
  );
}

function summaryTable(results: StormResult[]): string {
  const lines = [
    '| Store | Runs | All reconnected (ms) | All caught up (ms) | Hub CPU in storm | Hub peak RSS (MB) | Lost | Dup | Out of order | Resets |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const store of new Set(results.map((result) => result.store))) {
    const of = results.filter((result) => result.store === store && result.error === undefined);
    const med = (pick: (result: StormResult) => number): string =>
      Math.round(median(of.map(pick))).toString();
    const sum = (pick: (result: StormResult) => number): number =>
      of.reduce((total, r) => total + pick(r), 0);
    lines.push(
      `| ${store} | ${of.length} | ${med((r) => r.allReconnectedMs)} | ${med((r) => r.allCaughtUpMs)} | ` +
        `${med((r) => r.stormCpuPercent)}% | ${med((r) => r.stormPeakRssMb)} | ${sum((r) => r.verdict.lost)} | ` +
        `${sum((r) => r.verdict.duplicates)} | ${sum((r) => r.verdict.outOfOrder)} | ${sum((r) => r.verdict.resets)} |`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const deadline = Date.now() + options.maxMinutes * 60_000;
  mkdirSync(path.dirname(options.out), { recursive: true });
  console.log(`machine: ${JSON.stringify(machine())}; options: ${JSON.stringify(options)}`);
  const results: StormResult[] = [];
  const pool: Pool = new WorkerPool<StormCommand, StormReply>(options.workers, 'storm-worker.ts');
  try {
    for (let run = 1; run <= options.runs; run++) {
      for (const store of options.stores) {
        if (Date.now() > deadline) {
          console.log(`note: --max-minutes=${options.maxMinutes} reached; remaining runs skipped`);
          break;
        }
        try {
          results.push(await runStorm(pool, options, store, run));
          console.log(describe(results[results.length - 1] as StormResult));
        } catch (error) {
          console.log(`${store} run ${run}: ERROR ${error instanceof Error ? error.stack : String(error)}`);
        }
        writeFileSync(options.out, JSON.stringify({ machine: machine(), options, results }, null, 1));
      }
    }
  } finally {
    pool.close();
  }
  console.log(`\n${summaryTable(results)}\n\nresults: ${options.out}`);
}

await main();
