/**
 * The request-path workloads of issue 14, both driven by the raw keep-alive publisher
 * (`bench/publish-load.ts`) spread over the load workers:
 *
 * - publish throughput: 64 keep-alive connections publishing small form bodies, no subscribers;
 * - per-user notifications: N subscribers each on its own topic, publishers sending to random
 *   users as fast as the server answers, deliveries per second and delivery latency.
 */
import { loadavg } from 'node:os';
import { LatencyHistogram, median } from './ledger.js';
import type { PhaseLedgerJson } from './ledger.js';
import type { PublishLoadReply, PublishTarget } from './publish-load.js';
import { fmt, range } from './summary.js';
import { settleDeliveries } from './worker-pool.js';
import type { WorkerPool } from './worker-pool.js';
import { cpuMs, rssKb } from './systems.js';
import type { RunningSystem, SystemDefinition } from './systems.js';

export interface RequestPathOptions {
  /** Keep-alive publishing connections in all (spread over the workers). */
  connections: number;
  durationMs: number;
  payloadBytes: number;
}

export interface RequestPathResult {
  workload: 'publish' | 'per-user';
  system: string;
  n: number;
  rep: number;
  /** Subscribers holding a stream (per-user), 0 for publish. */
  open: number;
  accepted: number;
  refused: Record<string, number>;
  errors: number;
  firstError: string | undefined;
  publishesPerSec: number;
  deliveries: number;
  lost: number;
  duplicates: number;
  deliveriesPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Server CPU while the publishers ran (and deliveries settled), per accepted publish (µs). */
  cpuUsPerPublish: number;
  peakRssKb: number;
  loadAverage: number;
  error?: string;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const sumCpu = (system: RunningSystem): number => system.pids().reduce((sum, pid) => sum + cpuMs(pid), 0);

function share(total: number, parts: number, index: number): number {
  return Math.floor(total / parts) + (index < total % parts ? 1 : 0);
}

async function publishFromWorkers(
  system: RunningSystem,
  pool: WorkerPool,
  target: PublishTarget,
  users: number,
  firstPhase: number,
  options: RequestPathOptions,
): Promise<PublishLoadReply[]> {
  return pool.all(
    (index) => ({
      type: 'publish-load',
      port: system.port,
      target,
      connections: share(options.connections, pool.size, index),
      durationMs: options.durationMs,
      maxRequests: 2_000_000,
      phase: firstPhase + index,
      users,
      payloadBytes: options.payloadBytes,
      localAddress: `127.0.0.${200 + index}`,
    }),
    'published',
    options.durationMs + 60_000,
  );
}

function emptyResult(
  workload: RequestPathResult['workload'],
  system: string,
  n: number,
  rep: number,
): RequestPathResult {
  return {
    workload,
    system,
    n,
    rep,
    open: 0,
    accepted: 0,
    refused: {},
    errors: 0,
    firstError: undefined,
    publishesPerSec: NaN,
    deliveries: 0,
    lost: 0,
    duplicates: 0,
    deliveriesPerSec: NaN,
    p50Ms: NaN,
    p99Ms: NaN,
    cpuUsPerPublish: NaN,
    peakRssKb: 0,
    loadAverage: loadavg()[0] ?? NaN,
  };
}

function addPublishReplies(result: RequestPathResult, replies: PublishLoadReply[]): number {
  const elapsedMs = Math.max(...replies.map((reply) => reply.elapsedMs));
  for (const reply of replies) {
    result.accepted += reply.accepted;
    result.errors += reply.errors;
    result.firstError ??= reply.firstError;
    for (const [status, count] of Object.entries(reply.refused))
      result.refused[status] = (result.refused[status] ?? 0) + count;
  }
  result.publishesPerSec = result.accepted / (elapsedMs / 1000);
  return elapsedMs;
}

export async function runPublishThroughput(
  definition: SystemDefinition,
  system: RunningSystem,
  pool: WorkerPool,
  rep: number,
  firstPhase: number,
  options: RequestPathOptions,
): Promise<RequestPathResult> {
  const result = emptyResult('publish', definition.name, 0, rep);
  const cpuBefore = sumCpu(system);
  const replies = await publishFromWorkers(system, pool, definition.publishTarget, 0, firstPhase, options);
  addPublishReplies(result, replies);
  result.cpuUsPerPublish = ((sumCpu(system) - cpuBefore) * 1000) / Math.max(1, result.accepted);
  result.peakRssKb = system.pids().reduce((sum, pid) => sum + rssKb(pid), 0);
  return result;
}

export async function runPerUser(
  definition: SystemDefinition,
  system: RunningSystem,
  pool: WorkerPool,
  n: number,
  rep: number,
  firstPhase: number,
  options: RequestPathOptions,
): Promise<RequestPathResult> {
  const result = emptyResult('per-user', definition.name, n, rep);
  const perUser = definition.perUser;
  if (!perUser) throw new Error(`${definition.name} has no per-user workload`);
  let firstIndex = 0;
  const connected = await pool.all(
    (index) => {
      const count = share(n, pool.size, index);
      const command = {
        type: 'connect' as const,
        port: system.port,
        path: perUser.subscribePath,
        firstIndex,
        count,
        localAddresses: Array.from({ length: 10 }, (_, k) => `127.0.0.${2 + index * 10 + k}`),
        concurrency: 64,
        timeoutMs: 30_000,
      };
      firstIndex += count;
      return command;
    },
    'connected',
    180_000,
  );
  result.open = connected.reduce((sum, reply) => sum + reply.open, 0);
  await sleep(1000);
  const cpuBefore = sumCpu(system);
  const started = Date.now();
  const publishing = publishFromWorkers(system, pool, perUser.publishTarget, n, firstPhase, options);
  const rssSampler = setInterval(() => {
    result.peakRssKb = Math.max(
      result.peakRssKb,
      system.pids().reduce((sum, pid) => sum + rssKb(pid), 0),
    );
  }, 250);
  const replies = await publishing.finally(() => clearInterval(rssSampler));
  addPublishReplies(result, replies);
  // Deliveries still on their way when the publishers stop: wait (bounded) until they are in.
  await settleDeliveries(pool, result.accepted, 30_000);
  const elapsedMs = Date.now() - started;
  result.cpuUsPerPublish = ((sumCpu(system) - cpuBefore) * 1000) / Math.max(1, result.accepted);
  const collected = await pool.all(() => ({ type: 'collect', reach: false }), 'collected', 60_000);
  const histogram = new LatencyHistogram();
  for (const reply of collected) {
    for (const ledger of reply.phases as PhaseLedgerJson[]) {
      result.deliveries += ledger.deliveries;
      result.duplicates += ledger.duplicates;
      histogram.merge(ledger.histogram);
    }
  }
  result.lost = Math.max(0, result.accepted - result.deliveries);
  result.deliveriesPerSec = result.deliveries / (elapsedMs / 1000);
  result.p50Ms = histogram.quantile(0.5);
  result.p99Ms = histogram.quantile(0.99);
  return result;
}

function bySystem(results: readonly RequestPathResult[]): RequestPathResult[][] {
  const map = new Map<string, RequestPathResult[]>();
  for (const result of results) map.set(result.system, [...(map.get(result.system) ?? []), result]);
  return [...map.values()];
}

const thousands = (values: number[]): number[] => values.map((v) => v / 1000);

export function publishTable(results: readonly RequestPathResult[], comparator = 'plain-node'): string[] {
  const base = median(results.filter((r) => r.system === comparator).map((r) => r.publishesPerSec));
  const lines = [
    `| system | publishes/s (range over runs) | ÷ ${comparator} (medians) | server CPU per publish | refused / errors |`,
    '|---|---|---|---|---|',
  ];
  for (const group of bySystem(results)) {
    const rate = group.map((r) => r.publishesPerSec);
    const refused = group.reduce((sum, r) => sum + Object.values(r.refused).reduce((a, b) => a + b, 0), 0);
    lines.push(
      `| ${group[0]?.system} | ${range(thousands(rate), 'k')} | ${(median(rate) / base).toFixed(2)}× | ${range(
        group.map((r) => r.cpuUsPerPublish),
        ' µs',
      )} | ${refused} / ${group.reduce((sum, r) => sum + r.errors, 0)} |`,
    );
  }
  return lines;
}

export function perUserTable(results: readonly RequestPathResult[], comparator = 'nchan'): string[] {
  const base = median(results.filter((r) => r.system === comparator).map((r) => r.deliveriesPerSec));
  const lines = [
    `| N | system | deliveries/s | ÷ ${comparator} (medians) | delivery p50 | delivery p99 | server CPU per delivery | lost | dup | refused / errors |`,
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const group of bySystem(results)) {
    const first = group[0] as RequestPathResult;
    const rate = group.map((r) => r.deliveriesPerSec);
    const refused = group.reduce((sum, r) => sum + Object.values(r.refused).reduce((a, b) => a + b, 0), 0);
    lines.push(
      `| ${first.n.toLocaleString('en-US')} | ${first.system} | ${range(thousands(rate), 'k')} | ${(median(rate) / base).toFixed(2)}× | ${range(
        group.map((r) => r.p50Ms),
        ' ms',
      )} | ${range(
        group.map((r) => r.p99Ms),
        ' ms',
      )} | ${range(
        group.map((r) => r.cpuUsPerPublish),
        ' µs',
      )} | ${group.reduce((sum, r) => sum + r.lost, 0)} | ${group.reduce((sum, r) => sum + r.duplicates, 0)} | ${refused} / ${group.reduce((sum, r) => sum + r.errors, 0)} |`,
    );
  }
  return lines;
}

export function requestPathLine(result: RequestPathResult): string {
  return (
    `${result.system.padEnd(16)} ${result.workload} N=${result.n} rep ${result.rep}: ` +
    `${fmt(result.publishesPerSec)} publishes/s, CPU/publish ${fmt(result.cpuUsPerPublish)} µs` +
    (result.workload === 'per-user'
      ? `, open ${result.open}, ${fmt(result.deliveriesPerSec)} deliveries/s, p50 ${fmt(result.p50Ms)} p99 ${fmt(result.p99Ms)} ms, lost ${result.lost} dup ${result.duplicates}`
      : '') +
    `, refused ${JSON.stringify(result.refused)} errors ${result.errors}` +
    (result.firstError ? ` (${result.firstError})` : '') +
    (result.error ? ` ERROR ${result.error}` : '')
  );
}
