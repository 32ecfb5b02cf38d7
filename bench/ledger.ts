/**
 * Delivery accounting shared by the load workers and the coordinator: the payload format that
 * carries the publish timestamp, a mergeable latency histogram, and a per-phase ledger of
 * deliveries (counts, duplicates, time for each event to reach everyone).
 */

/** Wall clock in ms with sub-ms resolution, comparable across processes on one machine. */
export function clockMs(): number {
  return performance.timeOrigin + performance.now();
}

const PAYLOAD_PAD = 'x'.repeat(200);

/**
 * `P<phase>:<seq>:<publishedAtMs>:xxxx…`, padded to `size` bytes so every system carries the same
 * event size. Servers may wrap it (better-sse JSON-quotes strings); the parser tolerates that.
 */
export function encodePayload(phase: number, seq: number, publishedAtMs: number, size = 100): string {
  const head = `P${phase}:${seq}:${publishedAtMs.toFixed(3)}:`;
  return head + PAYLOAD_PAD.slice(0, Math.max(0, size - head.length));
}

export interface DecodedPayload {
  phase: number;
  seq: number;
  publishedAtMs: number;
}

export function decodePayload(data: string): DecodedPayload | undefined {
  const start = data.indexOf('P');
  if (start === -1) return undefined;
  const a = data.indexOf(':', start);
  const b = a === -1 ? -1 : data.indexOf(':', a + 1);
  const c = b === -1 ? -1 : data.indexOf(':', b + 1);
  if (c === -1) return undefined;
  const phase = Number(data.slice(start + 1, a));
  const seq = Number(data.slice(a + 1, b));
  const publishedAtMs = Number(data.slice(b + 1, c));
  if (!Number.isInteger(phase) || !Number.isInteger(seq) || !Number.isFinite(publishedAtMs)) return undefined;
  return { phase, seq, publishedAtMs };
}

/** Bucket i holds latencies in (BASE·GROWTH^(i-1), BASE·GROWTH^i]: 2 % resolution from 10 µs up. */
const BASE_MS = 0.01;
const GROWTH = 1.02;
const LOG_GROWTH = Math.log(GROWTH);

export type HistogramJson = Record<string, number>;

export class LatencyHistogram {
  private readonly counts = new Map<number, number>();
  total = 0;

  add(ms: number): void {
    const index = ms <= BASE_MS ? 0 : Math.ceil(Math.log(ms / BASE_MS) / LOG_GROWTH);
    this.counts.set(index, (this.counts.get(index) ?? 0) + 1);
    this.total++;
  }

  merge(other: LatencyHistogram | HistogramJson): void {
    const entries = other instanceof LatencyHistogram ? other.counts.entries() : Object.entries(other);
    for (const [key, count] of entries) {
      const index = Number(key);
      this.counts.set(index, (this.counts.get(index) ?? 0) + count);
      this.total += count;
    }
  }

  /** The upper bound of the bucket holding quantile q (0..1); NaN when empty. */
  quantile(q: number): number {
    if (this.total === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (const index of [...this.counts.keys()].sort((x, y) => x - y)) {
      seen += this.counts.get(index) ?? 0;
      if (seen >= rank) return BASE_MS * GROWTH ** index;
    }
    return NaN;
  }

  toJSON(): HistogramJson {
    return Object.fromEntries(this.counts);
  }
}

export interface EventReach {
  /** Deliveries of this event counted (first copies only). */
  deliveries: number;
  /** Latency of the last subscriber reached: the time for the event to reach everyone seen. */
  lastMs: number;
}

export interface PhaseLedgerJson {
  phase: number;
  deliveries: number;
  duplicates: number;
  outOfOrder: number;
  histogram: HistogramJson;
  events: Record<string, EventReach>;
}

export class PhaseLedger {
  deliveries = 0;
  duplicates = 0;
  outOfOrder = 0;
  readonly histogram = new LatencyHistogram();
  readonly events = new Map<number, EventReach>();

  constructor(readonly phase: number) {}

  record(seq: number, latencyMs: number): void {
    this.deliveries++;
    this.histogram.add(latencyMs);
    let reach = this.events.get(seq);
    if (!reach) this.events.set(seq, (reach = { deliveries: 0, lastMs: 0 }));
    reach.deliveries++;
    if (latencyMs > reach.lastMs) reach.lastMs = latencyMs;
  }

  merge(other: PhaseLedgerJson): void {
    this.deliveries += other.deliveries;
    this.duplicates += other.duplicates;
    this.outOfOrder += other.outOfOrder;
    this.histogram.merge(other.histogram);
    for (const [key, theirs] of Object.entries(other.events)) {
      const seq = Number(key);
      const ours = this.events.get(seq);
      if (!ours) this.events.set(seq, { ...theirs });
      else {
        ours.deliveries += theirs.deliveries;
        ours.lastMs = Math.max(ours.lastMs, theirs.lastMs);
      }
    }
  }

  /** `withReach: false` leaves out the per-event reach, which is large when every event has one recipient. */
  toJSON(withReach = true): PhaseLedgerJson {
    return {
      phase: this.phase,
      deliveries: this.deliveries,
      duplicates: this.duplicates,
      outOfOrder: this.outOfOrder,
      histogram: this.histogram.toJSON(),
      events: withReach ? Object.fromEntries(this.events) : {},
    };
  }
}

/** What one subscriber has seen: enough to flag duplicates and reordering per connection. */
export class SubscriberLog {
  private readonly seen = new Set<number>();
  private lastKey = -1;

  /** Returns 'new', 'duplicate'; reordering is reported through `reordered` on a new delivery. */
  note(phase: number, seq: number): { duplicate: boolean; reordered: boolean } {
    const key = phase * 1_000_000 + seq;
    if (this.seen.has(key)) return { duplicate: true, reordered: false };
    this.seen.add(key);
    const reordered = key < this.lastKey;
    if (!reordered) this.lastKey = key;
    return { duplicate: false, reordered };
  }
}

/** Collects what one worker's subscribers receive, by phase. */
export class DeliveryRecorder {
  readonly phases = new Map<number, PhaseLedger>();
  deliveries = 0;
  unparsable = 0;

  receive(log: SubscriberLog, data: string, nowMs: number): void {
    const payload = decodePayload(data);
    if (!payload) {
      this.unparsable++;
      return;
    }
    let ledger = this.phases.get(payload.phase);
    if (!ledger) this.phases.set(payload.phase, (ledger = new PhaseLedger(payload.phase)));
    const { duplicate, reordered } = log.note(payload.phase, payload.seq);
    if (duplicate) {
      ledger.duplicates++;
      return;
    }
    if (reordered) ledger.outOfOrder++;
    this.deliveries++;
    ledger.record(payload.seq, nowMs - payload.publishedAtMs);
  }
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}
