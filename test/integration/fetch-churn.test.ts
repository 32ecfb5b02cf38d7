import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { Hub, MemoryStore } from '../../src/index.js';
import { createFetchHandler } from '../../src/fetch/index.js';
import type { FetchHandler } from '../../src/fetch/index.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/**
 * One cycle: a Request to the handler, the stream's first bytes read, then the client leaves, by
 * cancelling the stream (a server whose connection closed) or by aborting the request's signal.
 */
async function connectAndLeave(handler: FetchHandler, topic: string, byAbort: boolean): Promise<void> {
  const query = new URLSearchParams([
    ['topic', topic],
    ['topic', 'shared'],
    ['topic', 'https://ex.com/{id}'],
  ]);
  const aborter = new AbortController();
  const request = new Request(`http://hub.test/.well-known/mercure?${query.toString()}`);
  // The controller's own signal, as a server's request carries it: Node's Request would follow a
  // given signal through a weak reference, which a garbage collection drops when, as here, no
  // server holds the request's internal controller (the abort would then never arrive).
  Object.defineProperty(request, 'signal', { value: aborter.signal });
  const response = await handler(request);
  expect(response.status).toBe(200);
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  await reader.read();
  if (byAbort) aborter.abort();
  else await reader.cancel();
}

async function churn(handler: FetchHandler, cycles: number, offset: number): Promise<void> {
  const parallel = 50;
  for (let i = 0; i < cycles; i += parallel) {
    await Promise.all(
      Array.from({ length: parallel }, (_, j) =>
        connectAndLeave(handler, `user/${offset + i + j}`, j % 2 === 0),
      ),
    );
  }
}

function heapUsed(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

describe('Fetch handler churn', () => {
  it('5,000 connect/cancel cycles leave no subscriber, no index entry, no heap growth', async () => {
    const hub = new Hub({ store: new MemoryStore(), heartbeatIntervalMs: 50 });
    const handler = createFetchHandler(hub, { maxConnections: 100 });
    try {
      await churn(handler, 500, 0); // warm-up: JIT, pools, caches
      const before = heapUsed();
      await churn(handler, 5000, 1000);
      const after = heapUsed();
      // Released synchronously by cancel or abort: nothing to wait for. The admission count too,
      // or 100 concurrent slots would have been used up after the first two batches.
      expect(hub.stats()).toMatchObject({
        subscribers: 0,
        indexedSelectors: 0,
        queuedForFlush: 0,
        replaying: 0,
      });
      // Each leaked subscriber would hold several KiB (sink, stream, selectors); 5,000 would show.
      expect(after - before).toBeLessThan(3 * 1024 * 1024);
    } finally {
      await hub.close();
    }
  });
});
