import { retainedEvents } from '../../src/store/history.js';
import type { ResumeFailure, Store, StoredEvent } from '../../src/store/types.js';

export type HistoryResult =
  | { readonly ok: true; readonly after: string; readonly events: readonly StoredEvent[] }
  | { readonly ok: false; readonly reason: ResumeFailure };

/**
 * Everything retained after a client's last event id, through the Store seam's two steps (locate,
 * then pages): what a replay sends, gathered in one array for assertions.
 */
export async function readAfter(store: Store, lastEventId: string): Promise<HistoryResult> {
  const point = await store.locate(lastEventId);
  if (!point.ok) return { ok: false, reason: point.reason };
  const events: StoredEvent[] = [];
  for await (const event of retainedEvents(store, { after: point.cursor })) events.push(event);
  return { ok: true, after: point.cursor, events };
}
