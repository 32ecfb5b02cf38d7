import type { Socket } from 'node:net';
import { EventSource } from 'eventsource';
import { afterEach, describe, expect, it } from 'vitest';
import { RESET_EVENT_TYPE } from '../../src/protocol/constants.js';
import { delay, openStream, publish, startTestHub, topicUrl } from '../helpers/hub.js';
import type { RawStream, TestHub } from '../helpers/hub.js';
import { eventually } from '../helpers/wait.js';
import { watchStreamConnections } from '../helpers/stream-connections.js';

let hub: TestHub | undefined;
afterEach(async () => {
  await hub?.close();
  hub = undefined;
});

const TOTAL = 1000;
const DROPS = 8;

/** Publishes `count` events to `topic` one after another; returns their ids in order. */
async function publishMany(hubUrl: string, topic: string, from: number, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = from; i < from + count; i++) {
    const answer = await publish(hubUrl, { topic, data: `event ${i}` });
    expect(answer.status).toBe(200);
    ids.push(answer.body);
  }
  return ids;
}

describe('resume is exact (architecture invariant 2)', () => {
  it('raw HTTP: a subscriber dropped 8 times during 1,000 publishes gets each event once, in order', async () => {
    const test = await startTestHub();
    hub = test;
    const url = topicUrl(test.hubUrl, ['resume']);
    const received: string[] = [];
    let stream: RawStream = await openStream(url);
    const publishing = (async () => {
      const perBatch = TOTAL / (DROPS + 2);
      for (let batch = 0; batch < DROPS + 2; batch++)
        await publishMany(test.hubUrl, 'resume', batch * perBatch, perBatch);
    })();
    for (let drop = 0; drop < DROPS; drop++) {
      const target = Math.floor(((drop + 1) * TOTAL) / (DROPS + 2));
      await stream.waitFor(() => received.length + stream.events.length >= target, 20_000, `event ${target}`);
      const lastId = stream.lastEventId();
      received.push(...stream.events.map((e) => e.data));
      stream.destroy();
      // Events published while the subscriber is away, and while it reconnects.
      await delay(5);
      stream = await openStream(url, { 'Last-Event-ID': lastId });
    }
    await publishing;
    await stream.waitFor(() => received.length + stream.events.length >= TOTAL, 20_000, 'all events');
    received.push(...stream.events.map((e) => e.data));
    stream.destroy();
    expect(received).toEqual(Array.from({ length: TOTAL }, (_, i) => `event ${i}`));
  });

  it('eventsource package: reconnects with Last-Event-ID after its socket is destroyed, nothing lost or repeated', async () => {
    const test = await startTestHub({ config: { retryMs: 10 } });
    hub = test;
    const { sockets: streamSockets } = watchStreamConnections(test.server);
    const received: string[] = [];
    let opens = 0;
    const source = new EventSource(topicUrl(test.hubUrl, ['es']));
    source.onopen = () => opens++;
    source.onmessage = (event) => received.push(String(event.data));
    await eventually(() => opens === 1, 20_000);
    const publishing = publishMany(test.hubUrl, 'es', 0, TOTAL);
    for (let drop = 0; drop < DROPS; drop++) {
      const target = ((drop + 1) * TOTAL) / (DROPS + 2);
      await eventually(() => received.length >= target, 20_000);
      // Drop the stream's TCP connection from the server side, as a network failure would.
      await eventually(() => streamSockets.size === 1, 20_000);
      const [socket] = streamSockets;
      socket?.destroy();
      await eventually(() => streamSockets.size === 1 && !streamSockets.has(socket as Socket), 20_000);
    }
    await publishing;
    await eventually(() => received.length >= TOTAL, 20_000);
    await delay(50);
    source.close();
    expect(opens).toBeGreaterThanOrEqual(DROPS + 1);
    expect(received).toEqual(Array.from({ length: TOTAL }, (_, i) => `event ${i}`));
  });

  it('resumes with the lastEventID query parameter; the header wins over it', async () => {
    const test = await startTestHub();
    hub = test;
    const ids = await publishMany(test.hubUrl, 'q', 0, 3);
    const byQuery = await openStream(topicUrl(test.hubUrl, ['q'], { lastEventID: ids[0] as string }));
    await byQuery.waitFor(() => byQuery.events.length === 2);
    expect(byQuery.events.map((e) => e.data)).toEqual(['event 1', 'event 2']);
    expect(byQuery.response.headers['last-event-id']).toBe(ids[0]);
    const both = await openStream(topicUrl(test.hubUrl, ['q'], { lastEventID: ids[0] as string }), {
      'Last-Event-ID': ids[1] as string,
    });
    await both.waitFor(() => both.events.length === 1);
    expect(both.events.map((e) => e.data)).toEqual(['event 2']);
    byQuery.destroy();
    both.destroy();
  });

  it('lastEventID=earliest replays all retained history', async () => {
    const test = await startTestHub({ config: { historySize: 5 } });
    hub = test;
    await publishMany(test.hubUrl, 'h', 0, 8);
    const stream = await openStream(topicUrl(test.hubUrl, ['h'], { lastEventID: 'earliest' }));
    await stream.waitFor(() => stream.events.length === 5);
    expect(stream.events.map((e) => e.data)).toEqual(['event 3', 'event 4', 'event 5', 'event 6', 'event 7']);
    expect(stream.response.headers['last-event-id']).toBe('earliest');
    expect(stream.events.filter((e) => e.type === RESET_EVENT_TYPE)).toEqual([]);
    stream.destroy();
  });
});

describe('cannot resume: the reset signal (architecture invariant 3)', () => {
  async function expectReset(test: TestHub, lastEventId: string, reason: string): Promise<void> {
    const head = await test.hub.store.head();
    const stream = await openStream(topicUrl(test.hubUrl, ['r']), { 'Last-Event-ID': lastEventId });
    await stream.waitFor(() => stream.events.length === 1, 5000, 'reset');
    const reset = stream.events[0];
    expect(reset?.type).toBe(RESET_EVENT_TYPE);
    expect(JSON.parse(reset?.data ?? '')).toEqual({ reason, lastEventId, resumeFrom: head });
    expect(reset?.lastEventId).toBe(head);
    expect(stream.response.headers['last-event-id']).toBe(head);
    // Then live events follow.
    await publish(test.hubUrl, { topic: 'r', data: 'live after reset' });
    await stream.waitFor(() => stream.events.length === 2);
    expect(stream.events[1]?.data).toBe('live after reset');
    stream.destroy();
  }

  it('for an id older than retention: reason "expired"', async () => {
    const test = await startTestHub({ config: { historySize: 3 } });
    hub = test;
    const ids = await publishMany(test.hubUrl, 'r', 0, 6);
    await expectReset(test, ids[0] as string, 'expired');
  });

  it('for an id never issued: reason "unknown"', async () => {
    const test = await startTestHub();
    hub = test;
    await publishMany(test.hubUrl, 'r', 0, 2);
    await expectReset(test, 'no-such-id', 'unknown');
  });

  it('for an id from before a restart of an in-memory hub: reason "unknown", then everything since the restart', async () => {
    const before = await startTestHub();
    const [oldId] = await publishMany(before.hubUrl, 'r', 0, 1);
    await before.close();
    const test = await startTestHub();
    hub = test;
    const since = await publishMany(test.hubUrl, 'r', 0, 3);
    expect(oldId?.endsWith('-1')).toBe(true);
    // The id carries the old process's epoch: all this process holds was published after it.
    const stream = await openStream(topicUrl(test.hubUrl, ['r']), { 'Last-Event-ID': oldId as string });
    await stream.waitFor(() => stream.events.length === 4, 5000, 'reset and replay');
    const [reset, ...replayed] = stream.events;
    expect(reset?.type).toBe(RESET_EVENT_TYPE);
    expect(JSON.parse(reset?.data ?? '')).toEqual({
      reason: 'unknown',
      lastEventId: oldId,
      resumeFrom: 'earliest',
    });
    expect(replayed.map((event) => event.lastEventId)).toEqual(since);
    await publish(test.hubUrl, { topic: 'r', data: 'live after reset' });
    await stream.waitFor(() => stream.events.length === 5);
    expect(stream.events[4]?.data).toBe('live after reset');
    stream.destroy();
  });

  it('for a malformed id (too long): reason "malformed"', async () => {
    const test = await startTestHub();
    hub = test;
    await publishMany(test.hubUrl, 'r', 0, 1);
    await expectReset(test, 'x'.repeat(2000), 'malformed');
  });

  it('the reset event moves the client cursor, so its next reconnect resumes normally', async () => {
    const test = await startTestHub();
    hub = test;
    await publishMany(test.hubUrl, 'r', 0, 2);
    const stream = await openStream(topicUrl(test.hubUrl, ['r']), { 'Last-Event-ID': 'bogus' });
    await stream.waitFor(() => stream.events.length === 1);
    stream.destroy();
    const [missed] = await publishMany(test.hubUrl, 'r', 2, 1);
    const again = await openStream(topicUrl(test.hubUrl, ['r']), { 'Last-Event-ID': stream.lastEventId() });
    await again.waitFor(() => again.events.length === 1);
    expect(again.events[0]).toMatchObject({ type: 'message', data: 'event 2', lastEventId: missed });
    again.destroy();
  });
});
