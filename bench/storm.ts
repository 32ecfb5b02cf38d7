/**
 * The reconnect storm (issue 14): N subscribers are connected, events are published at a steady
 * rate, every subscriber's socket is reset at one planned instant, and each reconnects at once
 * with the `Last-Event-ID` it last saw, while publishing goes on. Measured per case: time from
 * the cut until the last subscriber has caught up, per-subscriber catch-up and response-head
 * times, server CPU per reconnect, peak RSS, accept-queue overflows, and every delivery checked
 * per subscriber (lost, duplicated, out of order).
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { clockMs, encodePayload, median } from './ledger.js';
import { fmt, range } from './summary.js';
import type { StormReport } from './storm-subscribers.js';
import type { WorkerPool } from './worker-pool.js';
import { cpuMs, rssKb } from './systems.js';
import type { RunningSystem, SystemDefinition } from './systems.js';

export interface StormOptions {
  eventsPerSec: number;
  /** Publishing before the cut: the steady state the storm interrupts. */
  warmupMs: number;
  /** The longest a storm may take to catch up before the case gives up on it. */
  stormLimitMs: number;
  payloadBytes: number;
}

export interface StormResult {
  workload: 'storm';
  system: string;
  n: number;
  rep: number;
  open: number;
  replays: boolean;
  published: number;
  /** Cut → the last subscriber caught up (replaying systems) or reconnected (the others). */
  allDoneMs: number;
  catchUpP50Ms: number;
  catchUpP99Ms: number;
  headP50Ms: number;
  headMaxMs: number;
  caughtUp: number;
  headed: number;
  /** Server CPU from the cut until all done, ÷ reconnects (µs). */
  cpuUsPerReconnect: number;
  /**
   * The same less what the steady publishing cost per ms before the cut (µs): only meaningful
   * while the steady fan-out leaves the server idle part of the time (it goes negative when the
   * fan-out alone saturates it, as at 10,000 subscribers and 20 events/s); not in the table.
   */
  netCpuUsPerReconnect: number;
  peakRssKb: number;
  rssBeforeCutKb: number;
  /** Events missing at subscribers that reconnected. */
  lost: number;
  /** Subscribers not back (no head) when the bounded wait ended, and the events they miss. */
  notBack: number;
  missingNotBack: number;
  duplicates: number;
  outOfOrder: number;
  failedReconnects: number;
  retries: number;
  refusals: Record<string, number>;
  attemptErrors: Record<string, number>;
  closedByServer: number;
  listenOverflows: number;
  listenDrops: number;
  /** Spread of the workers' actual cut instants (ms): how "at once" the cut was. */
  cutSkewMs: number;
  /**
   * The storm's window on the monotonic clock in µs (the clock of V8's CPU profiles on Linux):
   * `profile-summary.ts --window=from,to` keeps only the storm's samples.
   */
  stormWindowUs: [number, number];
  loadAverage: number;
  error?: string;
}

/** TcpExt counters of the kernel (this network namespace): accept-queue overflows and drops. */
export function listenCounters(): { overflows: number; drops: number } {
  const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const names = (lines[i] as string).split(/\s+/);
    const values = (lines[i + 1] as string).split(/\s+/);
    if (names[0] !== 'TcpExt:') continue;
    const at = (name: string): number => Number(values[names.indexOf(name)] ?? NaN);
    return { overflows: at('ListenOverflows'), drops: at('ListenDrops') };
  }
  return { overflows: NaN, drops: NaN };
}

export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const sumCpu = (system: RunningSystem): number => system.pids().reduce((sum, pid) => sum + cpuMs(pid), 0);
const sumRss = (system: RunningSystem): number => system.pids().reduce((sum, pid) => sum + rssKb(pid), 0);

/** At most this many events per case; nchan's buffer is sized for it (systems.ts). */
const MAX_EVENTS = 5000;

/**
 * Publishes on a fixed schedule until stopped, one request at a time: a publish waits for the
 * previous answer, so the server's order is the sequence order (two publishes in flight on two
 * connections may be stored in either order, and would show up as reordering that is not the
 * server's). When the server answers late, publishing falls behind the schedule, as a real
 * publisher would.
 */
class SteadyPublisher {
  readonly publishedAt: number[] = [];
  private readonly outcomes: Promise<boolean>[] = [];
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly system: RunningSystem,
    private readonly phase: number,
    private readonly intervalMs: number,
    private readonly payloadBytes: number,
    readonly startMs: number,
  ) {}

  start(): void {
    this.loop = (async () => {
      for (let seq = 0; seq < MAX_EVENTS && !this.stopped; seq++) {
        const wait = this.startMs + seq * this.intervalMs - clockMs();
        if (wait > 1) await sleep(wait);
        if (this.stopped) break;
        const at = clockMs();
        this.publishedAt.push(at);
        const body = encodePayload(this.phase, seq, at, this.payloadBytes);
        const outcome = this.system.publish(body).then(
          () => true,
          () => false,
        );
        this.outcomes.push(outcome);
        if (!(await outcome)) break;
      }
    })();
  }

  /** Stops and waits for every publish in flight; returns how many were accepted, all of them in order. */
  async stop(): Promise<{ published: number; failed: number }> {
    this.stopped = true;
    await this.loop;
    const outcomes = await Promise.all(this.outcomes);
    const firstFailure = outcomes.indexOf(false);
    // The subscribers are checked against sequence numbers 0 … published − 1: a failed publish in
    // the middle would make every later one look lost, so it is reported and the check stops there.
    const published = firstFailure === -1 ? outcomes.length : firstFailure;
    return { published, failed: outcomes.filter((ok) => !ok).length };
  }
}

export async function runStorm(
  definition: SystemDefinition,
  system: RunningSystem,
  pool: WorkerPool,
  n: number,
  rep: number,
  phase: number,
  options: StormOptions,
): Promise<StormResult> {
  const result = emptyResult(definition, n, rep);
  const share = (index: number): number => Math.floor(n / pool.size) + (index < n % pool.size ? 1 : 0);
  const connected = await pool.all(
    (index) => ({
      type: 'storm-connect',
      port: system.port,
      path: system.subscribePath,
      count: share(index),
      localAddresses: Array.from({ length: 10 }, (_, k) => `127.0.0.${2 + index * 10 + k}`),
      concurrency: 64,
      timeoutMs: 30_000,
      phase,
      maxEvents: MAX_EVENTS,
    }),
    'storm-connected',
    180_000,
  );
  result.open = connected.reduce((sum, reply) => sum + reply.open, 0);
  await sleep(1000);
  const intervalMs = 1000 / options.eventsPerSec;
  const publisher = new SteadyPublisher(system, phase, intervalMs, options.payloadBytes, clockMs() + 100);
  // The cut falls just before a publish (a tenth of the interval), so the first event after it,
  // the catch-up target, is published while everyone is reconnecting: it has to come by replay.
  const targetSeq = Math.max(1, Math.round(options.warmupMs / intervalMs));
  const cutAtMs = publisher.startMs + (targetSeq - 0.1) * intervalMs;
  publisher.start();
  await pool.all(
    // No attempt times out before the storm's own limit: a connection whose SYN or ACK the kernel
    // dropped (full accept queue) completes on a retransmission seconds later, as a browser's would;
    // aborting and reconnecting would only send it to the back of the queue.
    () => ({
      type: 'storm-cut',
      atMs: cutAtMs,
      targetSeq,
      attemptTimeoutMs: options.stormLimitMs,
      maxAttempts: 10,
    }),
    'storm-cut-scheduled',
    10_000,
  );
  // The steady state's CPU rate, from a little after the first publish until just before the cut.
  await sleep(Math.max(0, publisher.startMs + intervalMs - clockMs()));
  const steadyFrom = { at: clockMs(), cpu: sumCpu(system) };
  await sleep(Math.max(0, cutAtMs - 30 - clockMs()));
  const steadyCpuPerMs = (sumCpu(system) - steadyFrom.cpu) / (clockMs() - steadyFrom.at);
  result.rssBeforeCutKb = sumRss(system);
  const countersBefore = listenCounters();
  await sleep(Math.max(0, cutAtMs - clockMs()));
  const cpuAtCut = sumCpu(system);
  const cutMonotonicUs = monotonicUs();
  const doneAt = await waitForStormEnd(system, pool, definition.replays, options.stormLimitMs, result);
  result.stormWindowUs = [cutMonotonicUs, monotonicUs()];
  const stormCpuMs = sumCpu(system) - cpuAtCut;
  const stormMs = doneAt - cutAtMs;
  // Keep publishing a little after the storm, so the hand-over from replay to live is exercised.
  await sleep(500);
  const { published, failed } = await publisher.stop();
  result.published = published;
  if (failed > 0) result.error = `${failed} publishes failed`;
  await settle(pool, published, result.open, 30_000);
  const countersAfter = listenCounters();
  result.listenOverflows = countersAfter.overflows - countersBefore.overflows;
  result.listenDrops = countersAfter.drops - countersBefore.drops;
  const reports = await pool.all(() => ({ type: 'storm-report', published }), 'storm-report', 30_000);
  account(result, reports, definition.replays);
  result.cpuUsPerReconnect = (stormCpuMs * 1000) / Math.max(1, result.open);
  result.netCpuUsPerReconnect = ((stormCpuMs - steadyCpuPerMs * stormMs) * 1000) / Math.max(1, result.open);
  return result;
}

function emptyResult(definition: SystemDefinition, n: number, rep: number): StormResult {
  return {
    workload: 'storm',
    system: definition.name,
    n,
    rep,
    open: 0,
    replays: definition.replays,
    published: 0,
    allDoneMs: NaN,
    catchUpP50Ms: NaN,
    catchUpP99Ms: NaN,
    headP50Ms: NaN,
    headMaxMs: NaN,
    caughtUp: 0,
    headed: 0,
    cpuUsPerReconnect: NaN,
    netCpuUsPerReconnect: NaN,
    peakRssKb: 0,
    rssBeforeCutKb: 0,
    lost: 0,
    notBack: 0,
    missingNotBack: 0,
    duplicates: 0,
    outOfOrder: 0,
    failedReconnects: 0,
    retries: 0,
    refusals: {},
    attemptErrors: {},
    closedByServer: 0,
    listenOverflows: NaN,
    listenDrops: NaN,
    cutSkewMs: NaN,
    stormWindowUs: [NaN, NaN],
    loadAverage: loadavg()[0] ?? NaN,
  };
}

/**
 * Polls the workers until every subscriber has caught up (or, for a system without replay, has
 * its response head) or given up, sampling the server's RSS meanwhile; returns when (clockMs).
 */
async function waitForStormEnd(
  system: RunningSystem,
  pool: WorkerPool,
  replays: boolean,
  limitMs: number,
  result: StormResult,
): Promise<number> {
  const deadline = clockMs() + limitMs;
  for (;;) {
    result.peakRssKb = Math.max(result.peakRssKb, sumRss(system));
    const progress = await pool.all(
      () => ({ type: 'storm-progress', published: 0 }),
      'storm-progress',
      10_000,
    );
    const done = progress.reduce((sum, p) => sum + (replays ? p.caughtUp : p.headed) + p.failed, 0);
    const subscribers = progress.reduce((sum, p) => sum + p.subscribers, 0);
    if (done >= subscribers || clockMs() > deadline) return clockMs();
    await sleep(20);
  }
}

/** Waits until every subscriber has all `published` events, or nothing changes for 3 s. */
async function settle(pool: WorkerPool, published: number, open: number, limitMs: number): Promise<void> {
  const deadline = clockMs() + limitMs;
  let last = -1;
  let lastChange = clockMs();
  while (clockMs() < deadline) {
    const progress = await pool.all(() => ({ type: 'storm-progress', published }), 'storm-progress', 10_000);
    const complete = progress.reduce((sum, p) => sum + p.complete, 0);
    if (complete >= open) return;
    if (complete !== last) {
      last = complete;
      lastChange = clockMs();
    } else if (clockMs() - lastChange > 3000) return;
    await sleep(100);
  }
}

function account(result: StormResult, reports: StormReport[], replays: boolean): void {
  const cuts = reports.map((report) => report.cutMs).filter(Number.isFinite);
  const cutMs = Math.min(...cuts);
  result.cutSkewMs = Math.max(...cuts) - cutMs;
  const heads = reports.flatMap((report) => report.headMs.map((at) => at - cutMs));
  const caughtUp = reports.flatMap((report) => report.caughtUpMs.map((at) => at - cutMs));
  result.headed = heads.length;
  result.caughtUp = caughtUp.length;
  result.headP50Ms = quantile(heads, 0.5);
  result.headMaxMs = heads.length ? Math.max(...heads) : NaN;
  if (replays) {
    result.catchUpP50Ms = quantile(caughtUp, 0.5);
    result.catchUpP99Ms = quantile(caughtUp, 0.99);
    result.allDoneMs = caughtUp.length === result.open ? Math.max(...caughtUp) : NaN;
  } else {
    result.allDoneMs = heads.length === result.open ? result.headMaxMs : NaN;
  }
  for (const report of reports) {
    result.lost += report.lost;
    result.notBack += report.notBack;
    result.missingNotBack += report.missingNotBack;
    result.duplicates += report.duplicates;
    result.outOfOrder += report.outOfOrder;
    result.failedReconnects += report.failedReconnects;
    result.retries += report.retries;
    result.closedByServer += report.closedByServer;
    for (const [status, count] of Object.entries(report.refusals))
      result.refusals[status] = (result.refusals[status] ?? 0) + count;
    for (const [error, count] of Object.entries(report.attemptErrors))
      result.attemptErrors[error] = (result.attemptErrors[error] ?? 0) + count;
  }
}

/** One row per (N, system): ranges over the runs, counts summed. */
export function stormTable(results: readonly StormResult[]): string {
  const lines = [
    '| N | system | all caught up after the cut | catch-up p50 | catch-up p99 | head p50 | head max | server CPU per reconnect | peak RSS | lost | dup | out of order | not back at the time limit | failed reconnects / retries | refusals | accept-queue overflows |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const group of groups(results)) {
    const first = group[0] as StormResult;
    const pick = (key: keyof StormResult): number[] => group.map((r) => r[key] as number);
    const sum = (key: keyof StormResult): number =>
      pick(key).reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
    const refusals = group.flatMap((r) => Object.entries(r.refusals).map(([s, c]) => `${c}×${s}`));
    const replay = first.replays;
    lines.push(
      `| ${first.n.toLocaleString('en-US')} | ${first.system} | ${replay ? range(pick('allDoneMs'), ' ms') : `(no replay) all reconnected ${range(pick('allDoneMs'), ' ms')}`} | ${replay ? range(pick('catchUpP50Ms'), ' ms') : '–'} | ${replay ? range(pick('catchUpP99Ms'), ' ms') : '–'} | ${range(pick('headP50Ms'), ' ms')} | ${range(pick('headMaxMs'), ' ms')} | ${range(pick('cpuUsPerReconnect'), ' µs')} | ${range(
        pick('peakRssKb').map((kb) => kb / 1024),
        ' MB',
      )} | ${replay ? sum('lost') : 'n/a'} | ${sum('duplicates')} | ${sum('outOfOrder')} | ${sum('notBack')} | ${sum('failedReconnects')} / ${sum('retries')} | ${refusals.join(', ') || '0'} | ${pick(
        'listenOverflows',
      )
        .map((count) => count.toLocaleString('en-US'))
        .join(', ')} |`,
    );
  }
  return lines.join('\n');
}

/** Same-run ratios of medians against `comparator` (default nchan). */
export function stormRatios(results: readonly StormResult[], comparator = 'nchan'): string[] {
  const lines: string[] = [];
  for (const n of [...new Set(results.map((r) => r.n))]) {
    const theirs = results.filter((r) => r.n === n && r.system === comparator);
    if (theirs.length === 0) continue;
    const time = median(theirs.map((r) => r.allDoneMs));
    const cpu = median(theirs.map((r) => r.cpuUsPerReconnect));
    const parts = groups(results.filter((r) => r.n === n && r.system !== comparator)).map((group) => {
      const name = (group[0] as StormResult).system;
      const t = median(group.map((r) => r.allDoneMs)) / time;
      const c = median(group.map((r) => r.cpuUsPerReconnect)) / cpu;
      return `${name} ${Number.isFinite(t) ? t.toFixed(2) : '–'}× time, ${c.toFixed(2)}× CPU`;
    });
    lines.push(
      `N=${n.toLocaleString('en-US')}, other ÷ ${comparator} (below 1: cheaper/faster): ${parts.join('; ')}`,
    );
  }
  return lines;
}

function groups(results: readonly StormResult[]): StormResult[][] {
  const byKey = new Map<string, StormResult[]>();
  for (const result of results) {
    const key = `${result.n}/${result.system}`;
    byKey.set(key, [...(byKey.get(key) ?? []), result]);
  }
  return [...byKey.values()];
}

export function stormLine(result: StormResult): string {
  return (
    `${result.system.padEnd(16)} N=${result.n} rep ${result.rep}: open ${result.open}, ` +
    `${result.replays ? 'all caught up' : 'all reconnected'} ${fmt(result.allDoneMs)} ms ` +
    `(catch-up p50 ${fmt(result.catchUpP50Ms)} p99 ${fmt(result.catchUpP99Ms)}; head p50 ${fmt(result.headP50Ms)} max ${fmt(result.headMaxMs)}), ` +
    `CPU/reconnect ${fmt(result.cpuUsPerReconnect)} µs (net ${fmt(result.netCpuUsPerReconnect)}), peak RSS ${fmt(result.peakRssKb / 1024)} MB, ` +
    `published ${result.published}, lost ${result.replays ? result.lost : 'n/a'} (not back ${result.notBack}) dup ${result.duplicates} ooo ${result.outOfOrder}, ` +
    `failed ${result.failedReconnects} retries ${result.retries} refusals ${JSON.stringify(result.refusals)} ` +
    `attempt errors ${JSON.stringify(result.attemptErrors)}, ` +
    `overflows ${result.listenOverflows} drops ${result.listenDrops}, cut skew ${fmt(result.cutSkewMs)} ms` +
    (result.error ? ` ERROR ${result.error}` : '')
  );
}
