/**
 * The shape of a bench run's results and how they are summarized: one row per (N, system) over
 * the repetitions, the Markdown table, and the speed ratios against ssehub.
 */
import { median } from './ledger.js';

export interface PhaseResult {
  published: number;
  publishFailures: number;
  expected: number;
  deliveries: number;
  lost: number;
  duplicates: number;
  outOfOrder: number;
  /** Per event, the latency of the last subscriber it reached (ms). */
  reachMs: number[];
  reachMedianMs: number;
  reachMaxMs: number;
  p50Ms: number;
  p99Ms: number;
  /** Deliveries counted ÷ time from the first publish to the last arrival. */
  deliveredPerSec: number;
  /**
   * CPU time the system's processes used from the first publish until the deliveries settled, per
   * delivery (µs): how much of a core one delivery costs, whatever the load tool's share of the
   * machine. Includes the kernel's work for the server's writes on loopback.
   */
  cpuUsPerDelivery?: number;
}

export interface RampStep extends PhaseResult {
  eventsPerSec: number;
  offeredDeliveriesPerSec: number;
  keptUp: boolean;
}

export interface CaseResult {
  system: string;
  n: number;
  rep: number;
  open: number;
  failed: number;
  firstError: string | undefined;
  connectMs: number;
  /** Server CPU while the N subscribers connected (64 at a time), per subscriber opened (µs). */
  cpuUsPerConnect?: number;
  rssBaseKb: number;
  rssIdleKb: number;
  rssPerConnectionKb: number;
  closedByServer: number;
  fanout: PhaseResult | undefined;
  ramp: RampStep[];
  /** Highest offered deliveries/s at which latency stayed flat (see `keptUp`). */
  sustainedDeliveriesPerSec: number | undefined;
  /** The machine's 1-minute load average when the case started: other work skews the numbers. */
  loadAverage: number;
  error?: string;
}

export interface BenchResults {
  machine: Record<string, string | number>;
  options: Record<string, unknown>;
  startedAt: string;
  cases: CaseResult[];
}

/**
 * "Latency starts to climb": a ramp step keeps up while its median delivery latency stays within
 * twice that of the gentlest step (plus 5 ms of slack), nothing is lost and every publish succeeded.
 */
export function keptUpWith(step: PhaseResult, baseP50Ms: number): boolean {
  return step.lost === 0 && (step.publishFailures ?? 0) === 0 && step.p50Ms <= 2 * baseP50Ms + 5;
}

/** Offered deliveries/s of the last step that kept up, before the first that did not. */
export function sustainedOf(ramp: readonly RampStep[]): number | undefined {
  let sustained: number | undefined;
  const base = ramp[0]?.p50Ms;
  for (const step of ramp) {
    if (base === undefined || !keptUpWith(step, base)) break;
    sustained = step.offeredDeliveriesPerSec;
  }
  return sustained;
}

export function fmt(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '–';
  // Thresholds just below 100 and 10 so that 9.999 prints as 10.0, not 10.00.
  return ms >= 99.95 ? ms.toFixed(0) : ms >= 9.995 ? ms.toFixed(1) : ms.toFixed(2);
}

/** `lo–hi` of the finite values (one value when they agree), `–` when there is none. */
export function range(values: readonly number[], unit = ''): string {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return '–';
  const lo = fmt(Math.min(...finite));
  const hi = fmt(Math.max(...finite));
  return lo === hi ? `${lo}${unit}` : `${lo}–${hi}${unit}`;
}

export interface SummaryRow {
  system: string;
  n: number;
  reps: number;
  reachMedianMs: number[];
  reachMaxMs: number[];
  p50Ms: number[];
  p99Ms: number[];
  /** Deliveries expected but not received, plus subscribers that could not connect. */
  lost: number;
  failedConnections: number;
  /** Publish requests the system refused or dropped (fan-out and ramp). */
  failedPublishes: number;
  duplicates: number;
  rssPerConnectionKb: number[];
  cpuUsPerConnect: number[];
  cpuUsPerDelivery: number[];
  sustainedDeliveriesPerSec: number[];
  /** Highest delivered/s of any ramp step: the throughput the system reached at saturation. */
  peakDeliveredPerSec: number[];
}

export function summarize(cases: readonly CaseResult[]): SummaryRow[] {
  const rows = new Map<string, SummaryRow>();
  for (const result of cases) {
    const key = `${result.n}/${result.system}`;
    let row = rows.get(key);
    if (!row) {
      row = {
        system: result.system,
        n: result.n,
        reps: 0,
        reachMedianMs: [],
        reachMaxMs: [],
        p50Ms: [],
        p99Ms: [],
        lost: 0,
        failedConnections: 0,
        failedPublishes: 0,
        duplicates: 0,
        rssPerConnectionKb: [],
        cpuUsPerConnect: [],
        cpuUsPerDelivery: [],
        sustainedDeliveriesPerSec: [],
        peakDeliveredPerSec: [],
      };
      rows.set(key, row);
    }
    row.reps++;
    row.rssPerConnectionKb.push(result.rssPerConnectionKb);
    if (result.cpuUsPerConnect !== undefined && Number.isFinite(result.cpuUsPerConnect)) {
      row.cpuUsPerConnect.push(result.cpuUsPerConnect);
    }
    row.failedConnections += result.failed;
    if (result.fanout) {
      row.reachMedianMs.push(result.fanout.reachMedianMs);
      row.reachMaxMs.push(result.fanout.reachMaxMs);
      row.p50Ms.push(result.fanout.p50Ms);
      row.p99Ms.push(result.fanout.p99Ms);
      row.lost += result.fanout.lost;
      row.failedPublishes += result.fanout.publishFailures ?? 0;
      row.duplicates += result.fanout.duplicates;
      const cpu = result.fanout.cpuUsPerDelivery;
      if (cpu !== undefined && Number.isFinite(cpu)) row.cpuUsPerDelivery.push(cpu);
    }
    for (const step of result.ramp) {
      row.failedPublishes += step.publishFailures ?? 0;
      row.lost += step.lost;
      row.duplicates += step.duplicates;
    }
    const peak = Math.max(...result.ramp.map((step) => step.deliveredPerSec).filter(Number.isFinite));
    if (Number.isFinite(peak)) row.peakDeliveredPerSec.push(peak);
    const sustained = sustainedOf(result.ramp);
    if (sustained !== undefined) {
      row.sustainedDeliveriesPerSec.push(sustained);
    }
  }
  return [...rows.values()];
}

export function markdownTable(rows: readonly SummaryRow[]): string {
  const lines = [
    '| N | system | reach all N, median (range over runs) | reach all N, worst event | delivery p50 | delivery p99 | lost | dup | failed connects | failed publishes | RSS per idle conn | server CPU per connect | server CPU per delivery | sustained deliveries/s | peak delivered/s |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const row of rows) {
    const sustained = row.sustainedDeliveriesPerSec.length
      ? range(
          row.sustainedDeliveriesPerSec.map((v) => v / 1000),
          'k',
        )
      : '–';
    const peak = row.peakDeliveredPerSec.length
      ? range(
          row.peakDeliveredPerSec.map((v) => v / 1000),
          'k',
        )
      : '–';
    lines.push(
      `| ${row.n.toLocaleString('en-US')} | ${row.system} | ${range(row.reachMedianMs, ' ms')} | ${range(row.reachMaxMs, ' ms')} | ${range(row.p50Ms, ' ms')} | ${range(row.p99Ms, ' ms')} | ${row.lost.toLocaleString('en-US')} | ${row.duplicates} | ${row.failedConnections} | ${row.failedPublishes} | ${range(row.rssPerConnectionKb, ' KB')} | ${row.cpuUsPerConnect.length ? range(row.cpuUsPerConnect, ' µs') : '–'} | ${row.cpuUsPerDelivery.length ? range(row.cpuUsPerDelivery, ' µs') : '–'} | ${sustained} | ${peak} |`,
    );
  }
  return lines.join('\n');
}

/** The system the others are compared with: the standalone hub, else the hub-core adapter. */
export function reference(rows: readonly SummaryRow[], n: number): SummaryRow | undefined {
  return (
    rows.find((row) => row.n === n && row.system === 'ssehub') ??
    rows.find((row) => row.n === n && row.system === 'ssehub-core')
  );
}

export function ratioLines(rows: readonly SummaryRow[]): string[] {
  const lines: string[] = [];
  for (const n of [...new Set(rows.map((row) => row.n))]) {
    const ours = reference(rows, n);
    if (!ours || ours.reachMedianMs.length === 0) continue;
    const ourMedian = median(ours.reachMedianMs);
    const ratios = rows
      .filter((row) => row.n === n && row !== ours && row.reachMedianMs.length > 0)
      .map(
        (row) =>
          `${row.system} ${(median(row.reachMedianMs) / ourMedian).toFixed(2)}×` +
          (row.failedConnections > 0
            ? ` (held only ${(row.n - row.failedConnections / row.reps).toLocaleString('en-US')} subscribers on average)`
            : ''),
      );
    lines.push(
      `N=${n.toLocaleString('en-US')}: time to reach all N, other ÷ ${ours.system} (above 1: ${ours.system} faster): ${ratios.join(', ')}`,
    );
    if (ours.cpuUsPerConnect.length > 0) {
      const ourConnect = median(ours.cpuUsPerConnect);
      const connectRatios = rows
        .filter((row) => row.n === n && row !== ours && row.cpuUsPerConnect.length > 0)
        .map((row) => `${row.system} ${(median(row.cpuUsPerConnect) / ourConnect).toFixed(2)}×`);
      lines.push(
        `N=${n.toLocaleString('en-US')}: server CPU per connecting subscriber, other ÷ ${ours.system} (above 1: ${ours.system} cheaper): ${connectRatios.join(', ')}`,
      );
    }
    if (ours.cpuUsPerDelivery.length > 0) {
      const ourCpu = median(ours.cpuUsPerDelivery);
      const cpuRatios = rows
        .filter((row) => row.n === n && row !== ours && row.cpuUsPerDelivery.length > 0)
        .map((row) => `${row.system} ${(median(row.cpuUsPerDelivery) / ourCpu).toFixed(2)}×`);
      lines.push(
        `N=${n.toLocaleString('en-US')}: server CPU per delivery, other ÷ ${ours.system} (above 1: ${ours.system} cheaper): ${cpuRatios.join(', ')}`,
      );
    }
  }
  return lines;
}

export interface MarginalRss {
  system: string;
  fromN: number;
  toN: number;
  /** Growth of the server's RSS per extra idle subscriber between two N: fixed costs cancel out. */
  kbPerConnection: number;
}

/**
 * RSS ÷ N charges a connection with whatever the process grows by once anything connects (V8's
 * young generation, code caches); the slope between the two largest N leaves those out.
 */
export function marginalRss(cases: readonly CaseResult[]): MarginalRss[] {
  const out: MarginalRss[] = [];
  for (const system of [...new Set(cases.map((result) => result.system))]) {
    const byN = new Map<number, CaseResult[]>();
    for (const result of cases) {
      if (result.system !== system || result.open === 0) continue;
      byN.set(result.n, [...(byN.get(result.n) ?? []), result]);
    }
    const ns = [...byN.keys()].sort((a, b) => a - b);
    if (ns.length < 2) continue;
    const [fromN, toN] = ns.slice(-2) as [number, number];
    const at = (n: number): { rss: number; open: number } => {
      const results = byN.get(n) ?? [];
      return { rss: median(results.map((r) => r.rssIdleKb)), open: median(results.map((r) => r.open)) };
    };
    const from = at(fromN);
    const to = at(toN);
    if (to.open > from.open) {
      out.push({ system, fromN, toN, kbPerConnection: (to.rss - from.rss) / (to.open - from.open) });
    }
  }
  return out;
}
