import { describe, expect, it } from 'vitest';
import { Hub } from '../../src/hub/hub.js';
import { encodedFrameCount } from '../../src/hub/frame.js';
import { MemoryStore } from '../../src/store/memory.js';
import type { HistoryPage, PageRequest, ResumePoint, StoredEvent } from '../../src/store/types.js';
import { MemorySink } from '../helpers/memory-sink.js';

/**
 * A memory store that counts history reads and, like a remote store, decodes a new object for every
 * event it reads, so nothing is shared unless the hub shares it.
 */
class CountingStore extends MemoryStore {
  locates = 0;
  pages = 0;
  override async locate(lastEventId: string): Promise<ResumePoint> {
    this.locates++;
    return super.locate(lastEventId);
  }
  override async readPage(request: PageRequest): Promise<HistoryPage> {
    this.pages++;
    const page = await super.readPage(request);
    return page.ok ? { ...page, events: page.events.map((event): StoredEvent => ({ ...event })) } : page;
  }
}

describe('resumes in a storm share history reads and frames', () => {
  it('500 subscribers resuming from the same id at once: one lookup, one read per page, one encode per event', async () => {
    const store = new CountingStore();
    const hub = new Hub({ store, heartbeatIntervalMs: 0 });
    const published: StoredEvent[] = [];
    for (let n = 0; n < 300; n++) published.push(await hub.publish({ topics: ['storm'], data: `${n}` }));
    const from = published[99] as StoredEvent;
    const encodedBefore = encodedFrameCount();
    const sinks = Array.from({ length: 500 }, () => new MemorySink());
    await Promise.all(sinks.map((sink) => hub.subscribe({ topics: ['storm'], sink, lastEventId: from.id })));
    await new Promise((resolve) => setTimeout(resolve, 50));
    for (const sink of sinks) {
      expect(sink.events.map((event) => event.lastEventId)).toEqual(published.slice(100).map((e) => e.id));
    }
    expect(store.locates).toBe(1);
    // 200 events after the id: one page, plus the check that nothing newer arrived meanwhile.
    expect(store.pages).toBeLessThanOrEqual(2);
    expect(encodedFrameCount() - encodedBefore).toBe(200);
    await hub.close();
  });
});
