import type { Store, StoredEvent } from './types.js';
import { EARLIEST } from './types.js';

const SCAN_PAGE_SIZE = 1000;

/**
 * Every retained event after a cursor, oldest first, read page by page so that a long history is
 * never held whole. For start-up scans (learning past cut-offs) and tools; a subscriber's replay
 * is paced by its socket instead (see Hub). Throws when history is trimmed from under the scan.
 */
export async function* retainedEvents(
  store: Store,
  options: { after?: string; topics?: readonly string[] } = {},
): AsyncGenerator<StoredEvent> {
  let after = options.after ?? EARLIEST;
  for (;;) {
    const page = await store.readPage({ after, limit: SCAN_PAGE_SIZE, topics: options.topics });
    if (!page.ok) throw new Error(`history after ${after} was trimmed while it was being read`);
    for (const event of page.events) yield event;
    if (page.end) return;
    after = page.through;
  }
}
