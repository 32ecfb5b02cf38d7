/**
 * The ids of the last events a tab has seen, bounded. A new leader resumes from the last id it saw,
 * which can be older than what the old leader relayed just before it went away: the events between
 * arrive twice, and this set is how every tab recognizes the second copy. The overlap is a handful
 * of events (those relayed while the lock changed hands), far below the bound.
 */
export class RecentIds {
  private readonly ids = new Set<string>();

  constructor(private readonly capacity = 4096) {}

  has(id: string): boolean {
    return this.ids.has(id);
  }

  add(id: string): void {
    if (this.ids.has(id)) return;
    this.ids.add(id);
    if (this.ids.size > this.capacity) {
      const oldest = this.ids.values().next().value as string;
      this.ids.delete(oldest);
    }
  }
}
