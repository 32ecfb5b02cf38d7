import { HttpError } from './errors.js';

export interface AdmissionOptions {
  /** Most open streams in total; 0: unlimited. */
  maxConnections?: number;
  /** Most open streams of one subject (token `sub`); 0: unlimited. Anonymous streams are not counted. */
  maxConnectionsPerSubject?: number;
  /** Seconds a refused client is told to wait. Default 5. */
  retryAfterSeconds?: number;
}

/** Which admission limit refused a stream: the open rate, the hub's total, or one subject's. */
export type StreamRefusal = 'rate' | 'full' | 'subject';

/** A stream refused by an admission limit; `refusal` says which (for metrics). */
export class AdmissionRefusal extends HttpError {
  constructor(
    readonly refusal: StreamRefusal,
    status: number,
    message: string,
    headers: Readonly<Record<string, string>>,
  ) {
    super(status, message, headers);
  }
}

/**
 * Counts open streams and refuses new ones past the limits: 503 when the hub as a whole is full
 * (try again later or elsewhere), 429 when one subject holds too many (that client's problem).
 */
export class ConnectionAdmission {
  private total = 0;
  private readonly bySubject = new Map<string, number>();
  private readonly maxConnections: number;
  private readonly maxPerSubject: number;
  private readonly retryAfter: string;

  constructor(options: AdmissionOptions = {}) {
    this.maxConnections = options.maxConnections ?? 0;
    this.maxPerSubject = options.maxConnectionsPerSubject ?? 0;
    this.retryAfter = String(options.retryAfterSeconds ?? 5);
  }

  get open(): number {
    return this.total;
  }

  /** Reserves a slot or throws an HttpError; the returned function frees it (idempotent). */
  admit(subject: string | undefined): () => void {
    if (this.maxConnections > 0 && this.total >= this.maxConnections) {
      throw new AdmissionRefusal(
        'full',
        503,
        `Too many connections: the hub is at its limit of ${this.maxConnections}.`,
        { 'Retry-After': this.retryAfter },
      );
    }
    const held = subject === undefined ? 0 : (this.bySubject.get(subject) ?? 0);
    if (subject !== undefined && this.maxPerSubject > 0 && held >= this.maxPerSubject) {
      throw new AdmissionRefusal(
        'subject',
        429,
        `Too many connections for this subject: at most ${this.maxPerSubject} open streams.`,
        { 'Retry-After': this.retryAfter },
      );
    }
    this.total++;
    if (subject !== undefined) this.bySubject.set(subject, held + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      if (subject === undefined) return;
      const left = (this.bySubject.get(subject) ?? 1) - 1;
      if (left > 0) this.bySubject.set(subject, left);
      else this.bySubject.delete(subject);
    };
  }
}

export interface StreamOpenRateOptions {
  /**
   * New event streams admitted per second, on average, over the whole hub; more get 503 with a
   * jittered `Retry-After` before anything else is done for them. 0 (default): no limit.
   */
  maxStreamOpensPerSecond?: number;
  /** Opens admitted at once after a quiet moment (the bucket's size). Default: one second's worth. */
  streamOpenBurst?: number;
}

/** Longest wait a refused open is told: what a flood of refusals can cost an honest client at most. */
export const MAX_STREAM_OPEN_RETRY_AFTER_SECONDS = 30;

/** What `StreamOpenRate` reads time and chance from; tests pass their own. */
export interface RateSource {
  /** Milliseconds, monotonic. */
  now(): number;
  /** Uniform in [0, 1). */
  random(): number;
}

const systemSource: RateSource = { now: () => performance.now(), random: Math.random };

/**
 * A token bucket for new event streams: `rate` tokens a second, at most `burst` saved up. An open
 * takes a token; without one it is refused, and told when to come back. The refused are spread
 * over the coming seconds at the rate the bucket refills: the k-th client refused in a row is told
 * about k / rate seconds, plus up to one second of jitter (Retry-After has whole seconds only), so
 * a storm of N returns as about `rate` a second for N / rate seconds rather than all at once. The
 * count of clients told to come back drains at the rate; past `MAX_STREAM_OPEN_RETRY_AFTER_SECONDS`
 * worth, a refused client gets a uniform wait over that whole window. A check costs a few
 * arithmetic operations and allocates nothing but the refusal.
 */
export class StreamOpenRate {
  private readonly perMs: number;
  private readonly burst: number;
  private tokens: number;
  private refilledAt: number;
  /** Clients told to come back that the refill has not made room for yet. */
  private promised = 0;
  private promisedAt: number;

  constructor(
    private readonly rate: number,
    burst: number | undefined,
    private readonly source: RateSource = systemSource,
  ) {
    if (!(rate > 0) || !Number.isFinite(rate)) throw new RangeError('maxStreamOpensPerSecond must be > 0');
    this.burst = Math.max(1, burst && burst > 0 ? burst : Math.ceil(rate));
    this.perMs = rate / 1000;
    this.tokens = this.burst;
    this.refilledAt = this.promisedAt = source.now();
  }

  /** Takes a token, or throws the refusal: 503, a jittered `Retry-After`, and `Connection: close`. */
  check(): void {
    const taken = this.take();
    if (taken.admitted) return;
    const wait = taken.retryAfterSeconds;
    throw new AdmissionRefusal(
      'rate',
      503,
      `Too many new streams: the hub opens at most ${this.rate} a second; retry in ${wait} s.`,
      // Closed: a refused client holds no connection on the hub while it waits.
      { 'Retry-After': String(wait), Connection: 'close' },
    );
  }

  /** Takes a token, or answers how many seconds the refused client should wait. */
  take(): { admitted: true } | { admitted: false; retryAfterSeconds: number } {
    const now = this.source.now();
    this.tokens = Math.min(this.burst, this.tokens + (now - this.refilledAt) * this.perMs);
    this.refilledAt = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return { admitted: true };
    }
    return { admitted: false, retryAfterSeconds: this.retryAfter(now) };
  }

  private retryAfter(now: number): number {
    const max = MAX_STREAM_OPEN_RETRY_AFTER_SECONDS;
    this.promised = Math.max(0, this.promised - (now - this.promisedAt) * this.perMs);
    this.promisedAt = now;
    const full = this.promised >= max * this.rate;
    if (full) return 1 + Math.floor(this.source.random() * max);
    this.promised += 1;
    const seconds = Math.ceil(this.promised / this.rate + this.source.random());
    return Math.min(max, Math.max(1, seconds));
  }
}
