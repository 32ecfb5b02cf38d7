import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { RESET_EVENT_TYPE } from '../../src/protocol/constants.js';
import { EventStreamParser } from '../../src/protocol/parse.js';
import type { ParsedEvent } from '../../src/protocol/parse.js';
import { RedisStore } from '../../src/store/redis.js';
import type { StoredEvent } from '../../src/store/types.js';
import { delay, openStream, publish, startTestHub, topicUrl } from '../helpers/hub.js';
import type { TestHub } from '../helpers/hub.js';
import { RedisServer, redisAvailable } from '../helpers/redis.js';

/**
 * Replay is paged and paced by the subscriber's socket (issue 11, item 2): a resume whose history
 * is far larger than the slow-reader bound succeeds, whatever the reader's speed, and hands over
 * to live events with no gap and no duplicate.
 */
describe('paged replay', () => {
  let hub: TestHub | undefined;
  afterEach(async () => {
    await hub?.close();
    hub = undefined;
  });

  const BOUND = 64 * 1024;
  const payload = 'x'.repeat(1000);

  async function hubWithHistory(
    count: number,
    data = payload,
  ): Promise<{ test: TestHub; events: StoredEvent[] }> {
    const test = await startTestHub({ config: { maxBufferedBytes: BOUND, historySize: 20_000 } });
    hub = test;
    const events: StoredEvent[] = [];
    for (let n = 0; n < count; n++)
      events.push(await test.hub.publish({ topics: ['big'], data: `${n}:${data}` }));
    return { test, events };
  }

  it('resumes with 45× the buffer bound of history: every event, in order, and the stream stays open', async () => {
    const { test, events } = await hubWithHistory(3000);
    const stream = await openStream(topicUrl(test.hubUrl, ['big']), { 'Last-Event-ID': 'earliest' });
    await stream.waitFor(() => stream.events.length === 3000, 20_000, 'the whole history');
    expect(stream.events.map((event) => event.lastEventId)).toEqual(events.map((event) => event.id));
    const live = await publish(test.hubUrl, { topic: 'big', data: 'live' });
    await stream.waitFor(() => stream.events.length === 3001);
    expect(stream.events[3000]).toMatchObject({ data: 'live', lastEventId: live.body });
    expect(test.hub.stats()).toMatchObject({ subscribers: 1, replaying: 0 });
    stream.destroy();
  });

  it('a reader that stops reading mid-replay is waited for, not cut as slow, and gets the rest', async () => {
    // 30 MB: more than the kernel's socket buffers on loopback can absorb while the reader sleeps.
    const { test, events } = await hubWithHistory(2000, 'y'.repeat(15_000));
    const received: ParsedEvent[] = [];
    const parser = new EventStreamParser({ onEvent: (event) => received.push(event) });
    const url = new URL(topicUrl(test.hubUrl, ['big']));
    const socket = connect(Number(url.port), url.hostname);
    let bodyStarted = false;
    socket.on('data', (chunk: Buffer) => {
      if (!bodyStarted) {
        const headEnd = chunk.indexOf('\r\n\r\n');
        if (headEnd < 0) return;
        bodyStarted = true;
        chunk = chunk.subarray(headEnd + 4);
      }
      // HTTP/1.0: no chunked framing, the body is the event stream itself.
      parser.push(chunk);
    });
    socket.write(`GET ${url.pathname}${url.search} HTTP/1.0\r\nHost: x\r\nLast-Event-ID: earliest\r\n\r\n`);
    await new Promise((resolve) => socket.once('data', resolve));
    socket.pause();
    await delay(700);
    // The replay is waiting on the socket, holding no more than its bound.
    expect(test.hub.stats()).toMatchObject({ subscribers: 1, replaying: 1 });
    expect(received.length).toBeLessThan(2000);
    socket.resume();
    const deadline = Date.now() + 20_000;
    while (received.length < 2000 && Date.now() < deadline) await delay(20);
    expect(received.map((event) => event.lastEventId)).toEqual(events.map((event) => event.id));
    expect(test.hub.stats()).toMatchObject({ subscribers: 1, replaying: 0 });
    socket.destroy();
  });

  it('events published during a long replay follow it exactly once, in order', async () => {
    const { test, events } = await hubWithHistory(2000);
    const stream = await openStream(topicUrl(test.hubUrl, ['big']), { 'Last-Event-ID': 'earliest' });
    const during: StoredEvent[] = [];
    for (let n = 0; n < 200; n++) {
      during.push(await test.hub.publish({ topics: ['big'], data: `during ${n}` }));
      if (n % 20 === 0) await delay(1);
    }
    await stream.waitFor(() => stream.events.length >= 2200, 20_000, 'history and live events');
    await delay(100);
    expect(stream.events.map((event) => event.lastEventId)).toEqual([...events, ...during].map((e) => e.id));
    stream.destroy();
  });

  it('counts as replayed only events actually queued to the socket', async () => {
    const { test } = await hubWithHistory(1000);
    const stream = await openStream(topicUrl(test.hubUrl, ['big']), { 'Last-Event-ID': 'earliest' });
    await stream.waitFor(() => stream.events.length === 1000, 20_000);
    const metrics = await (await fetch(`${test.url}/metrics`)).text();
    expect(metrics).toMatch(/^ssehub_events_replayed_total 1000$/m);
    stream.destroy();
  });
});

describe('the starting id never names an update the subscriber may not see (issue 11, item 7)', () => {
  let hub: TestHub | undefined;
  afterEach(async () => {
    await hub?.close();
    hub = undefined;
  });

  it('a live-only stream starts at an opaque position, and resuming from it misses nothing', async () => {
    const test = await startTestHub();
    hub = test;
    await test.hub.publish({
      topics: ['orders/alice'],
      data: 'secret',
      id: 'order-9912-alice',
      private: true,
    });
    const stream = await openStream(topicUrl(test.hubUrl, ['news']));
    await delay(50);
    const start = stream.response.headers['last-event-id'] as string;
    expect(start).not.toContain('alice');
    expect(stream.text()).not.toContain('alice');
    stream.destroy();
    const missed = await publish(test.hubUrl, { topic: 'news', data: 'while away' });
    const again = await openStream(topicUrl(test.hubUrl, ['news']), { 'Last-Event-ID': start });
    await again.waitFor(() => again.events.length === 1);
    expect(again.events[0]).toMatchObject({ data: 'while away', lastEventId: missed.body });
    again.destroy();
  });
});

describe.runIf(redisAvailable('Redis data loss'))('Redis data lost (issue 11, item 11)', () => {
  let hub: TestHub | undefined;
  let redis: RedisServer | undefined;
  afterEach(async () => {
    await hub?.close();
    await redis?.destroy();
    hub = redis = undefined;
  });

  it('a subscriber cut at the gap resumes from the start of the new stream: nothing acknowledged is missed', async () => {
    redis = await RedisServer.start();
    const store = await RedisStore.connect({ url: redis.url, prefix: 'loss' });
    const test = await startTestHub({ store });
    hub = test;
    const stream = await openStream(topicUrl(test.hubUrl, ['t']));
    const before = await publish(test.hubUrl, { topic: 't', data: 'before' });
    await stream.waitFor(() => stream.events.length === 1);
    // Redis restarts empty (no persistence): the stream begins anew.
    await redis.stop('SIGKILL');
    await redis.restart();
    const acknowledged: string[] = [];
    const deadline = Date.now() + 10_000;
    while (acknowledged.length < 3 && Date.now() < deadline) {
      const answer = await publish(test.hubUrl, { topic: 't', data: `after ${acknowledged.length}` });
      if (answer.status === 200) acknowledged.push(answer.body);
      else await delay(50);
    }
    expect(acknowledged).toHaveLength(3);
    await stream.closed;
    expect(stream.lastEventId()).toBe(before.body);
    const again = await openStream(topicUrl(test.hubUrl, ['t']), { 'Last-Event-ID': stream.lastEventId() });
    await again.waitFor(() => again.events.length >= 4, 10_000, 'reset and the new stream');
    const [reset, ...rest] = again.events;
    expect(reset?.type).toBe(RESET_EVENT_TYPE);
    expect(JSON.parse(reset?.data ?? '')).toMatchObject({ reason: 'unknown', resumeFrom: 'earliest' });
    expect(rest.map((event) => event.lastEventId)).toEqual(acknowledged);
    again.destroy();
  });
});
