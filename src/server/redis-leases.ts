import { Redis } from 'ioredis';
import type { PresenceLeases } from '../hub/presence-leases.js';

/**
 * Presence leases as Redis keys with a TTL (`{prefix}:presence-lease:{hub}`): a hub killed without
 * warning stops renewing, and its key expires on Redis's clock, which every hub shares. One small
 * connection of its own, so a lease renewal never waits behind the store's blocking feed.
 */
export class RedisPresenceLeases implements PresenceLeases {
  private readonly client: Redis;

  constructor(
    url: string,
    private readonly prefix: string,
  ) {
    this.client = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 1, commandTimeout: 2000 });
    // Failures surface as rejected renewals (the presence layer retries on its next tick).
    this.client.on('error', () => undefined);
  }

  async renew(hubId: string, ttlMs: number): Promise<void> {
    await this.client.set(this.key(hubId), '1', 'PX', Math.max(1, Math.round(ttlMs)));
  }

  async alive(hubIds: readonly string[]): Promise<Set<string>> {
    if (hubIds.length === 0) return new Set();
    const found = await Promise.all(hubIds.map((id) => this.client.exists(this.key(id))));
    return new Set(hubIds.filter((_, index) => found[index] === 1));
  }

  async release(hubId: string): Promise<void> {
    await this.client.del(this.key(hubId));
  }

  async close(): Promise<void> {
    this.client.disconnect();
    return Promise.resolve();
  }

  private key(hubId: string): string {
    return `{${this.prefix}}:presence-lease:${hubId}`;
  }
}
