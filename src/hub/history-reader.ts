import type { HistoryPage, PageRequest, Store, StoredEvent } from '../store/types.js';

/** Events per history page: small enough to hold for one subscriber, large enough to stream fast. */
export const REPLAY_PAGE_SIZE = 256;

/** Most decoded events remembered so that replays of the same range share one frame per event. */
const INTERNED_EVENTS = 4096;

/**
 * Reads history pages for replays. When many subscribers resume at once (a reconnect storm), the
 * ones asking for the same page share one store read, and every replay of an event uses the same
 * event object, so its frame is encoded once however many subscribers replay it.
 */
export class HistoryReader {
  private readonly inFlight = new Map<string, Promise<HistoryPage>>();
  /** Cursor → event, oldest first: a store that decodes each read anew still yields one object. */
  private readonly interned = new Map<string, StoredEvent>();

  constructor(private readonly store: Store) {}

  read(request: PageRequest): Promise<HistoryPage> {
    const key = `${request.limit}\n${request.after}\n${request.topics?.join('\n') ?? '*'}`;
    let page = this.inFlight.get(key);
    if (page === undefined) {
      page = this.store.readPage(request).then((result) => this.intern(result));
      const settled = (): void => void this.inFlight.delete(key);
      page.then(settled, settled);
      this.inFlight.set(key, page);
    }
    return page;
  }

  private intern(page: HistoryPage): HistoryPage {
    if (!page.ok || page.events.length === 0) return page;
    const events = page.events.map((event) => {
      const known = this.interned.get(event.cursor);
      if (known !== undefined) return known;
      this.interned.set(event.cursor, event);
      if (this.interned.size > INTERNED_EVENTS) {
        const oldest = this.interned.keys().next().value;
        if (oldest !== undefined) this.interned.delete(oldest);
      }
      return event;
    });
    return { ...page, events };
  }
}
