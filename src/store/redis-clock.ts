/**
 * What this process knows about Redis's clock: bounds on the offset between Redis's wall clock
 * (`TIME`) and the local monotonic clock (`performance.now()`), both in milliseconds.
 *
 * A `TIME` reply was read by Redis at some local instant between sending the command and receiving
 * the reply, so one sample bounds the offset to [redis − received, redis − sent]. Bounds age: the
 * two clocks may run at slightly different rates (NTP slews by at most 500 ppm), so each bound
 * widens by `MAX_DRIFT` per elapsed millisecond. A new sample narrows the aged bounds; one that
 * contradicts them means Redis's clock was stepped, and then only the new sample is believed.
 */
const MAX_DRIFT = 0.001;

export interface OffsetBounds {
  readonly low: number;
  readonly high: number;
}

export class RedisClock {
  private bounds: OffsetBounds | undefined;
  /** Local time at which `bounds` were last narrowed. */
  private measuredAt = 0;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Local monotonic milliseconds. */
  localNow(): number {
    return this.now();
  }

  get known(): boolean {
    return this.bounds !== undefined;
  }

  /**
   * Takes one `TIME` reading: `seconds`/`micros` as Redis answered, read between local `sentAt`
   * and `receivedAt`. Returns false when it contradicted the earlier bounds (Redis's clock jumped).
   */
  sample(sentAt: number, receivedAt: number, seconds: string, micros: string): boolean {
    const redisMs = Number(seconds) * 1000 + Number(micros) / 1000;
    const measured = { low: redisMs - receivedAt, high: redisMs - sentAt };
    const aged = this.boundsAt(receivedAt);
    const consistent = aged === undefined || (measured.low <= aged.high && measured.high >= aged.low);
    this.bounds =
      consistent && aged
        ? { low: Math.max(measured.low, aged.low), high: Math.min(measured.high, aged.high) }
        : measured;
    this.measuredAt = receivedAt;
    return consistent;
  }

  /** The offset bounds as they stand at local time `at` (aged for drift). */
  boundsAt(at: number): OffsetBounds | undefined {
    if (!this.bounds) return undefined;
    const widening = MAX_DRIFT * Math.max(0, at - this.measuredAt);
    return { low: this.bounds.low - widening, high: this.bounds.high + widening };
  }

  /**
   * A deadline in Redis's clock (whole milliseconds) that, by the current estimate, is no earlier
   * than `afterMs` from now: a command run by Redis later than that is past it.
   */
  deadlineAfter(afterMs: number): number {
    const now = this.now();
    const bounds = this.boundsAt(now);
    if (!bounds) throw new Error('Redis clock not measured yet');
    return Math.floor(now + afterMs + bounds.low);
  }

  /**
   * Milliseconds to wait until Redis's clock is certainly past `deadline` (a script comparing its
   * whole-millisecond `TIME` with it then refuses); 0 when it already is.
   */
  untilCertainlyPast(deadline: number): number {
    const now = this.now();
    const bounds = this.boundsAt(now);
    if (!bounds) throw new Error('Redis clock not measured yet');
    // Redis's clock now is at least now + low; past the deadline means at least deadline + 1.
    return Math.max(0, deadline + 1 - (now + bounds.low));
  }
}
