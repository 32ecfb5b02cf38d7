import { request } from 'node:http';
import { expect, test } from 'vitest';
import { createHubServer } from '../../../src/server/app.js';
import { MemoryStore } from '../../../src/store/memory.js';
import type { HistoryPage, PageRequest } from '../../../src/store/types.js';
import { HUB_PATH, publish } from '../../helpers/stream-reader.js';

/** A real memory store whose history reads take a while, as a remote store's can. */
class SlowHistoryStore extends MemoryStore {
  override async readPage(request: PageRequest): Promise<HistoryPage> {
    await new Promise((resolve) => setTimeout(resolve, 300));
    return super.readPage(request);
  }
}

test('a stream still reading history at shutdown is reset, not answered with an empty 200', async () => {
  const hub = createHubServer({ config: { port: 0, demo: false }, store: new SlowHistoryStore() });
  const url = await hub.listen();
  const first = await publish(url, 'news', 'one');
  const outcome = new Promise<string>((resolve) => {
    const req = request(`${url}${HUB_PATH}?topic=news`, {
      headers: { 'Last-Event-ID': first.body },
      agent: false,
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(`answered ${res.statusCode} ${String(res.headers['content-type'])}`));
    });
    req.on('error', (error) => resolve(`reset: ${(error as NodeJS.ErrnoException).code}`));
    req.end();
  });
  await new Promise((resolve) => setTimeout(resolve, 100));
  await hub.close(2000);
  // An EventSource treats a reset as a network error and reconnects; an empty 200 without
  // text/event-stream would make it give up for good.
  expect(await outcome).toBe('reset: ECONNRESET');
});
