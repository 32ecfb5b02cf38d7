import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { Hub, MemoryStore } from '../../src/index.js';
import { createFetchHandler } from '../../src/fetch/index.js';
import type { FetchHandler } from '../../src/fetch/index.js';
import { EventStreamParser } from '../../src/protocol/parse.js';

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

describe('Fetch handler replay', () => {
  it('a resume from the start of 45× the bound is paced by the reader: every event, none dropped as slow', async () => {
    const maxBufferedBytes = 64 * 1024;
    const dropped: string[] = [];
    const hub = new Hub({
      store: new MemoryStore({ historySize: 3000 }),
      maxBufferedBytes,
      observer: { unsubscribed: (_subscriber, reason) => void dropped.push(reason) },
    });
    const payload = 'x'.repeat(1024);
    for (let i = 0; i < 3000; i++) await hub.publish({ topics: ['deep'], data: `${i} ${payload}` });
    const handler = createFetchHandler(hub, { streamHighWaterMark: 16 * 1024 });
    try {
      const response = await handler(
        new Request('http://hub.test/.well-known/mercure?topic=deep', {
          headers: { 'Last-Event-ID': 'earliest' },
        }),
      );
      const received: number[] = [];
      const parser = new EventStreamParser({
        onEvent: (event) => received.push(Number(event.data.split(' ')[0])),
      });
      const reader = (response.body as ReadableStream<Uint8Array>).getReader();
      let reads = 0;
      let queuedAfterPause = 0;
      while (received.length < 3000) {
        const { done, value } = await reader.read();
        if (done) break;
        parser.push(value);
        // A slow reader: the replay must wait for it rather than queue past the bound.
        if (++reads % 20 === 0) await new Promise((resolve) => setTimeout(resolve, 2));
        if (reads === 500) queuedAfterPause = await queuedWhile(reader, parser, 100);
      }
      await reader.cancel();
      expect(dropped.filter((reason) => reason === 'slow')).toEqual([]);
      // What the stream held after the reader stopped for 100 ms, plus what the replay added while
      // it was read (the memory store refills within the same turn): a few bounds at most, where an
      // unpaced replay would have queued the remaining 2.5 MB.
      expect(queuedAfterPause).toBeGreaterThan(0);
      expect(queuedAfterPause).toBeLessThanOrEqual(4 * maxBufferedBytes);
      expect(received).toEqual(Array.from({ length: 3000 }, (_, i) => i));
    } finally {
      await hub.close();
    }
  });
});

/**
 * Stops reading for `pauseMs`, then reads what the stream already holds (reads that resolve before
 * the next turn of the event loop) and returns its size: the stream's queue after the pause, and
 * what the replay added meanwhile in the same turn.
 */
async function queuedWhile(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  parser: EventStreamParser,
  pauseMs: number,
): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, pauseMs));
  let bytes = 0;
  for (;;) {
    const read = reader.read();
    const next = await Promise.race([
      read,
      new Promise<undefined>((resolve) => setImmediate(() => resolve(undefined))),
    ]);
    if (next === undefined || next.done) {
      const late = await read;
      if (!late.done) parser.push(late.value);
      return bytes;
    }
    bytes += next.value.byteLength;
    parser.push(next.value);
  }
}
