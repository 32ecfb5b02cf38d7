import { createHash } from 'node:crypto';

export interface RateLimitOptions {
  /** Sustained rate allowed per key, per second. */
  perSecond: number;
  /** Most requests in a burst; default one second's worth. */
  burst?: number;
  /** Most keys tracked; the least recently used are forgotten first. Default 100,000. */
  maxKeys?: number;
  now?: () => number;
}

interface Bucket {
  tokens: number;
  updatedAt: number;
}

/** A token bucket per key (here: per bearer token). Keys are hashed so no token is kept in memory. */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly burst: number;
  private readonly maxKeys: number;
  private readonly now: () => number;

  constructor(private readonly options: RateLimitOptions) {
    this.burst = Math.max(1, options.burst ?? Math.ceil(options.perSecond));
    this.maxKeys = options.maxKeys ?? 100_000;
    this.now = options.now ?? Date.now;
  }

  /** Takes one unit for `key`; returns 0 when allowed, otherwise the seconds to wait. */
  take(key: string): number {
    const id = createHash('sha256').update(key).digest('base64url');
    const now = this.now();
    let bucket = this.buckets.get(id);
    if (bucket) {
      this.buckets.delete(id);
      const refill = ((now - bucket.updatedAt) / 1000) * this.options.perSecond;
      bucket.tokens = Math.min(this.burst, bucket.tokens + refill);
      bucket.updatedAt = now;
    } else {
      bucket = { tokens: this.burst, updatedAt: now };
      if (this.buckets.size >= this.maxKeys) {
        const oldest = this.buckets.keys().next().value;
        if (oldest !== undefined) this.buckets.delete(oldest);
      }
    }
    // Re-inserted so the map's order is least recently used first.
    this.buckets.set(id, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.options.perSecond));
  }
}
