import { afterEach, describe, expect, it } from 'vitest';
import { RESET_EVENT_TYPE } from '../../src/protocol/constants.js';
import { delay, openStream, publish, rawRequest, startTestHub, topicUrl } from '../helpers/hub.js';
import type { RawStream, TestHub } from '../helpers/hub.js';

/** Issue 17: `rewind=N` and `since=` on subscribe, and per-message TTL, over real HTTP. */

let hub: TestHub | undefined;
const streams: RawStream[] = [];
afterEach(async () => {
  for (const stream of streams.splice(0)) stream.destroy();
  await hub?.close();
  hub = undefined;
});

const NEWS = 'https://example.com/news';
const OTHER = 'https://example.com/other';

async function open(url: string, headers: Record<string, string> = {}): Promise<RawStream> {
  const stream = await openStream(url, headers);
  streams.push(stream);
  return stream;
}

const dataOf = (stream: RawStream) =>
  stream.events.filter((event) => event.type === 'message').map((event) => event.data);

/** A hub retaining 10 events, with 12 news events (and others between them) published. */
async function hubWithHistory(): Promise<TestHub> {
  hub = await startTestHub({ config: { historySize: 10, maxRewind: 20, heartbeatMs: 0 } });
  for (let n = 1; n <= 12; n++) {
    await publish(hub.hubUrl, { topic: NEWS, data: `news ${n}` });
    if (n % 4 === 0) await publish(hub.hubUrl, { topic: OTHER, data: `other ${n}` });
  }
  return hub;
}

let liveCount = 0;

/**
 * Opens with `query`, publishes one live event, and returns the data received up to it: that live
 * event reads `live`, those of earlier calls `live-<n>`.
 */
async function receivedWith(test: TestHub, query: Record<string, string>, headers = {}): Promise<string[]> {
  const stream = await open(topicUrl(test.hubUrl, [NEWS], query), headers);
  await delay(30);
  const marker = `live-${++liveCount}`;
  await publish(test.hubUrl, { topic: NEWS, data: marker });
  await stream.waitFor(() => dataOf(stream).includes(marker), 5000, 'the live event');
  return dataOf(stream).map((data) => (data === marker ? 'live' : data));
}

describe('rewind and since (issue 17)', () => {
  it('rewind=N gives exactly the last N matching retained events, then live ones', async () => {
    const test = await hubWithHistory();
    expect(await receivedWith(test, { rewind: '3' })).toEqual(['news 10', 'news 11', 'news 12', 'live']);
  });

  it('rewind=0 gives none, and more than is retained gives all that is retained', async () => {
    const test = await hubWithHistory();
    // 10 retained events, 2 of them on the other topic: news 5 to news 12.
    const all = await receivedWith(test, { rewind: '20' });
    expect(all).toEqual([...Array.from({ length: 8 }, (_, i) => `news ${i + 5}`), 'live']);
    expect(await receivedWith(test, { rewind: '0' })).toEqual(['live']);
  });

  it('since=<RFC 3339> gives the retained events published at or after that time', async () => {
    hub = await startTestHub({ config: { heartbeatMs: 0 } });
    const test = hub;
    await publish(test.hubUrl, { topic: NEWS, data: 'before' });
    await delay(30);
    const since = new Date().toISOString();
    await delay(5);
    for (const data of ['after 1', 'after 2']) await publish(test.hubUrl, { topic: NEWS, data });
    const first = liveCount + 1;
    expect(await receivedWith(test, { since })).toEqual(['after 1', 'after 2', 'live']);
    // An offset is honoured: the same instant, two hours east.
    const east = new Date(Date.parse(since) + 2 * 3600_000).toISOString().replace('Z', '+02:00');
    expect(await receivedWith(test, { since: east })).toEqual([
      'after 1',
      'after 2',
      `live-${first}`,
      'live',
    ]);
    const future = new Date(Date.now() + 60_000).toISOString();
    expect(await receivedWith(test, { since: future })).toEqual(['live']);
  });

  it('a Last-Event-ID wins over rewind: a reconnecting EventSource resumes, it does not rewind again', async () => {
    const test = await hubWithHistory();
    const stream = await open(topicUrl(test.hubUrl, [NEWS], { rewind: '2' }));
    await stream.waitFor(() => dataOf(stream).length === 2, 5000, 'the rewind');
    const lastSeen = stream.lastEventId();
    stream.destroy();
    await publish(test.hubUrl, { topic: NEWS, data: 'missed' });
    expect(await receivedWith(test, { rewind: '2' }, { 'Last-Event-ID': lastSeen })).toEqual([
      'missed',
      'live',
    ]);
  });

  it('refuses malformed or too large values with 400 and one line', async () => {
    const test = await hubWithHistory();
    const cases: [Record<string, string>, RegExp][] = [
      [{ rewind: 'abc' }, /"rewind" must be a non-negative integer/],
      [{ rewind: '-1' }, /"rewind" must be a non-negative integer/],
      [{ rewind: '1.5' }, /"rewind" must be a non-negative integer/],
      [{ rewind: '' }, /"rewind" must be a non-negative integer/],
      [{ rewind: '21' }, /"rewind" too large: at most 20/],
      [{ since: 'yesterday' }, /"since" must be an RFC 3339 time/],
      [{ since: '2025-01-31' }, /"since" must be an RFC 3339 time/],
      [{ since: '2025-13-45T12:00:00Z' }, /"since" must be an RFC 3339 time/],
      [{ rewind: '1', since: '2025-01-31T12:00:00Z' }, /"rewind" or "since", not both/],
    ];
    for (const [query, reason] of cases) {
      const answer = await rawRequest(topicUrl(test.hubUrl, [NEWS], query));
      expect(answer.status, JSON.stringify(query)).toBe(400);
      expect(answer.body).toMatch(reason);
      expect(answer.body.split('\n')).toHaveLength(2);
    }
    expect(test.hub.stats().subscribers).toBe(0);
  });
});

describe('per-message TTL (issue 17)', () => {
  it('an expired event is never replayed, and a resume across it gets the reset signal naming the gap', async () => {
    hub = await startTestHub({ config: { heartbeatMs: 0 } });
    const test = hub;
    const kept = await publish(test.hubUrl, { topic: NEWS, data: 'kept' });
    const gone = [];
    for (const n of [1, 2])
      gone.push(await publish(test.hubUrl, { topic: NEWS, data: `short ${n}`, ttl: '50' }));
    await publish(test.hubUrl, { topic: NEWS, data: 'after', ttl: '60000' });
    await delay(80);
    const resumed = await open(topicUrl(test.hubUrl, [NEWS]), { 'Last-Event-ID': kept.body });
    await resumed.waitFor(() => dataOf(resumed).includes('after'), 5000, 'the unexpired event');
    const [reset, after] = resumed.events;
    expect(reset?.type).toBe(RESET_EVENT_TYPE);
    expect(JSON.parse(reset?.data ?? '')).toEqual({
      reason: 'expired',
      lastEventId: kept.body,
      resumeFrom: gone[1]?.body,
    });
    expect(reset?.lastEventId).toBe(gone[1]?.body);
    expect(after?.data).toBe('after');
    const rewound = await open(topicUrl(test.hubUrl, [NEWS], { rewind: '10' }));
    await rewound.waitFor(() => dataOf(rewound).length === 2, 5000, 'the rewind');
    await delay(20);
    expect(dataOf(rewound)).toEqual(['kept', 'after']);
  });

  it('a policy TTL applies to its topics; bad ttl values get 400', async () => {
    hub = await startTestHub({ config: { topics: { [NEWS]: { ttlMs: 50 } }, heartbeatMs: 0 } });
    const test = hub;
    const first = await publish(test.hubUrl, { topic: OTHER, data: 'no ttl' });
    await publish(test.hubUrl, { topic: NEWS, data: 'policy ttl' });
    await delay(80);
    const resumed = await open(topicUrl(test.hubUrl, [NEWS, OTHER]), { 'Last-Event-ID': first.body });
    await resumed.waitFor(() => resumed.events.length === 1, 5000, 'the reset signal');
    expect(resumed.events[0]?.type).toBe(RESET_EVENT_TYPE);
    for (const ttl of ['0', '-5', '1.5', 'soon', String(366 * 24 * 3600 * 1000)]) {
      const answer = await publish(test.hubUrl, { topic: NEWS, data: 'x', ttl });
      expect(answer.status, ttl).toBe(400);
      expect(answer.body).toMatch(/"ttl" must be/);
    }
  });
});

describe('per-topic retention over HTTP (issue 17)', () => {
  it('a resume across events beyond the retained count, and a since older than the history, get the reset signal', async () => {
    hub = await startTestHub({
      config: { historySize: 6, topics: { [NEWS]: { retainCount: 2 } }, heartbeatMs: 0 },
    });
    const test = hub;
    const start = await publish(test.hubUrl, { topic: OTHER, data: 'start' });
    const news = [];
    for (let n = 1; n <= 3; n++) news.push(await publish(test.hubUrl, { topic: NEWS, data: `news ${n}` }));
    const resumed = await open(topicUrl(test.hubUrl, [NEWS, OTHER]), { 'Last-Event-ID': start.body });
    await resumed.waitFor(() => dataOf(resumed).length === 2, 5000, 'the retained events');
    const [reset] = resumed.events;
    expect(reset?.type).toBe(RESET_EVENT_TYPE);
    expect(JSON.parse(reset?.data ?? '')).toEqual({
      reason: 'expired',
      lastEventId: start.body,
      resumeFrom: news[0]?.body,
    });
    expect(dataOf(resumed)).toEqual(['news 2', 'news 3']);
    // Four more events trim `start` and `news 1` from the 6 retained: a since before them is told.
    for (let n = 1; n <= 4; n++) await publish(test.hubUrl, { topic: OTHER, data: `other ${n}` });
    const since = new Date(Date.now() - 60_000).toISOString();
    const told = await open(topicUrl(test.hubUrl, [OTHER], { since }));
    await told.waitFor(() => dataOf(told).length === 4, 5000, 'the retained events');
    expect(told.events[0]?.type).toBe(RESET_EVENT_TYPE);
    expect(JSON.parse(told.events[0]?.data ?? '')).toEqual({
      reason: 'expired',
      lastEventId: '',
      resumeFrom: news[0]?.body,
    });
    expect(dataOf(told)).toEqual(['other 1', 'other 2', 'other 3', 'other 4']);
  });
});
