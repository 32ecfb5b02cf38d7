/**
 * Leases tell hubs sharing a store which of them are still alive: each hub renews its own lease,
 * and the subscriptions of a hub whose lease has lapsed (it was killed, or lost its network) are
 * ended by the others. A lease lives outside the event log on purpose: renewals written as events
 * would push real events out of a bounded history.
 */
export interface PresenceLeases {
  /** Keeps `hubId` alive for `ttlMs` more. */
  renew(hubId: string, ttlMs: number): Promise<void>;
  /** Which of `hubIds` hold a lease now. */
  alive(hubIds: readonly string[]): Promise<Set<string>>;
  /** Gives up the lease at once (a clean shutdown). */
  release(hubId: string): Promise<void>;
  close?(): Promise<void>;
}

/** Leases within one process: enough for hubs sharing an in-process store. */
export class LocalPresenceLeases implements PresenceLeases {
  private readonly until = new Map<string, number>();
  constructor(private readonly now: () => number = Date.now) {}

  renew(hubId: string, ttlMs: number): Promise<void> {
    this.until.set(hubId, this.now() + ttlMs);
    return Promise.resolve();
  }

  alive(hubIds: readonly string[]): Promise<Set<string>> {
    const now = this.now();
    return Promise.resolve(new Set(hubIds.filter((id) => (this.until.get(id) ?? 0) > now)));
  }

  release(hubId: string): Promise<void> {
    this.until.delete(hubId);
    return Promise.resolve();
  }
}
