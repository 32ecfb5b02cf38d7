import { createHash } from 'node:crypto';
import type { JWTPayload } from 'jose';

/**
 * Tokens already verified, so a publisher sending many updates with one token pays for one
 * signature check, not one per update, and a reconnect storm of subscribers holding the same
 * tokens pays for none. Keyed by a hash of the token's exact bytes: no token is kept in memory,
 * and another spelling of the same claims is another entry. Bounded: past `capacity` entries the
 * oldest is forgotten, so a flood of distinct tokens costs signature checks, never memory.
 */
export class VerifiedTokenCache {
  private readonly entries = new Map<string, { payload: JWTPayload; until: number }>();

  constructor(private readonly capacity: number) {}

  get size(): number {
    return this.entries.size;
  }

  /** The payload of `token` verified earlier, while `now` is before the time it was kept until. */
  get(token: string, now: number): JWTPayload | undefined {
    const id = hashOf(token);
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    if (entry.until <= now) {
      this.entries.delete(id);
      return undefined;
    }
    return entry.payload;
  }

  set(token: string, payload: JWTPayload, until: number): void {
    if (this.entries.size >= this.capacity) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(hashOf(token), { payload, until });
  }
}

function hashOf(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}
