/**
 * The client against a small real HTTP fixture server on loopback: what it sends, how it treats
 * each kind of answer (WHATWG fail vs reconnect, plus our retry policy), and what it reports.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createClient } from '../../../src/client/index.js';
import type {
  ClientEvent,
  ClientOptions,
  ResetNotice,
  SseClient,
  StateChange,
} from '../../../src/client/index.js';
import { FixtureServer, openStream, until } from '../../helpers/fixture-server.js';

let fixture: FixtureServer;
const clients: SseClient[] = [];

/** Fast real-clock defaults for these tests: tiny backoff, no jitter, no `online` source. */
function client(options: ClientOptions = {}, url = fixture.url): SseClient {
  const created = createClient(url, {
    backoff: { initial: 5, max: 50, jitter: 0 },
    onlineEvents: null,
    ...options,
  });
  clients.push(created);
  return created;
}

function record(subject: SseClient): { events: ClientEvent[]; states: StateChange[]; resets: ResetNotice[] } {
  const seen = { events: [] as ClientEvent[], states: [] as StateChange[], resets: [] as ResetNotice[] };
  subject.onAny((event) => seen.events.push(event));
  subject.onState((change) => seen.states.push(change));
  subject.onReset((notice) => seen.resets.push(notice));
  return seen;
}

beforeEach(async () => {
  fixture = await FixtureServer.start();
});

afterEach(async () => {
  for (const created of clients.splice(0)) created.close();
  await fixture.close();
});

describe('client against a fixture server', () => {
  it('delivers typed events to their listeners and every event to onAny, with ids', async () => {
    fixture.serve((_req, res) => {
      openStream(res);
      res.write('id: 1\ndata: {"n":1}\n\nevent: chat\nid: 2\ndata: hi\n\ndata: no id\n\n');
    });
    const subject = client();
    const messages: ClientEvent[] = [];
    const chats: ClientEvent[] = [];
    subject.on('message', (event) => messages.push(event));
    subject.on('chat', (event) => chats.push(event));
    const seen = record(subject);
    await until(() => seen.events.length === 3, 'three events');
    expect(messages.map((event) => [event.data, event.id])).toEqual([
      ['{"n":1}', '1'],
      ['no id', '2'],
    ]);
    expect(messages[0]!.json<{ n: number }>().n).toBe(1);
    expect(chats.map((event) => [event.type, event.data, event.id])).toEqual([['chat', 'hi', '2']]);
    expect(seen.events.map((event) => event.type)).toEqual(['message', 'chat', 'message']);
    expect(subject.lastEventId).toBe('2');
    expect(subject.state).toBe('open');
    expect(seen.states.map((change) => change.state)).toEqual(['connecting', 'open']);
  });

  it('off() and the returned unsubscribe function stop delivery', async () => {
    let stream: import('node:http').ServerResponse | undefined;
    fixture.serve((_req, res) => {
      openStream(res);
      stream = res;
    });
    const subject = client();
    const a: string[] = [];
    const b: string[] = [];
    const listenA = (event: ClientEvent) => a.push(event.data);
    subject.on('message', listenA);
    const stopB = subject.on('message', (event) => b.push(event.data));
    await until(() => subject.state === 'open' && stream !== undefined, 'open');
    stream!.write('data: 1\n\n');
    await until(() => a.length === 1 && b.length === 1, 'first event');
    subject.off('message', listenA);
    stopB();
    stream!.write('data: 2\n\nevent: sentinel\ndata: x\n\n');
    const sentinel: string[] = [];
    subject.on('sentinel', (event) => sentinel.push(event.data));
    await until(() => sentinel.length === 1, 'sentinel');
    expect([a, b]).toEqual([['1'], ['1']]);
  });

  it('sends Accept, custom headers and Last-Event-ID on every reconnect, after the server retry', async () => {
    fixture.serve((req, res, index) => {
      openStream(res);
      // The eventsource package's /counter: a few events, then the server ends the stream.
      const after = Number(req.headers['last-event-id'] ?? 0);
      res.end(
        `retry: 20\n\n${[1, 2].map((n) => `id: ${after + n}\ndata: ${index}-${after + n}\n\n`).join('')}`,
      );
    });
    const subject = client({ headers: { 'X-App': 'demo' } });
    const seen = record(subject);
    await until(() => seen.events.length >= 6, 'six events over three connections');
    subject.close();
    expect(seen.events.slice(0, 6).map((event) => event.id)).toEqual(['1', '2', '3', '4', '5', '6']);
    const [first, second, third] = fixture.requests;
    expect(first!.headers.accept).toBe('text/event-stream');
    expect(first!.headers['x-app']).toBe('demo');
    expect(first!.headers['last-event-id']).toBeUndefined();
    expect(second!.headers['last-event-id']).toBe('2');
    expect(third!.headers['last-event-id']).toBe('4');
    const retrying = seen.states.filter((change) => change.state === 'retrying');
    expect(retrying[0]).toMatchObject({ attempt: 1, delay: 20, reason: { code: 'stream-ended' } });
    expect(retrying[1]).toMatchObject({ attempt: 2, delay: 40 });
    expect(subject.reconnects).toBeGreaterThanOrEqual(2);
  });

  it('builds the Mercure URL from the hub URL and topics', async () => {
    fixture.serve((_req, res) => res.writeHead(204).end());
    const subject = client({ topics: ['https://example.com/books/{id}', 'chat room'] }, `${fixture.url}?x=1`);
    await subject.closed;
    const url = new URL(fixture.requests[0]!.url, 'http://h');
    expect(url.searchParams.getAll('topic')).toEqual(['https://example.com/books/{id}', 'chat room']);
    expect(url.searchParams.get('x')).toBe('1');
    expect(subject.url).toBe(
      `${fixture.url}?x=1&topic=https%3A%2F%2Fexample.com%2Fbooks%2F%7Bid%7D&topic=chat+room`,
    );
  });

  it('stops for good on 204 and says why', async () => {
    fixture.serve((_req, res) => res.writeHead(204).end());
    const subject = client();
    const seen = record(subject);
    const reason = await subject.closed;
    expect(reason).toMatchObject({ code: 'no-content', status: 204 });
    expect(reason.message).toContain('204');
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(fixture.requests).toHaveLength(1);
    expect(seen.states.map((change) => change.state)).toEqual(['connecting', 'closed']);
    expect(subject.state).toBe('closed');
  });

  it('an event longer than maxEventLength closes the client for good and says why', async () => {
    fixture.serve((_req, res) => {
      openStream(res);
      res.write('id: 1\ndata: small\n\n');
      // Sent in pieces, as a hostile or broken server would stream it.
      for (let i = 0; i < 8; i++) res.write(i === 0 ? 'data: ' + 'x'.repeat(200) : 'x'.repeat(200));
    });
    const subject = client({ maxEventLength: 1000 });
    const seen = record(subject);
    const reason = await subject.closed;
    expect(reason.code).toBe('event-too-large');
    expect(reason.message).toBe(
      "An event longer than 1000 characters arrived. The client's maxEventLength is 1000.",
    );
    expect(seen.events.map((event) => event.data)).toEqual(['small']);
    expect(subject.lastEventId).toBe('1');
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(fixture.requests).toHaveLength(1);
  });

  it('a wrong Content-Type is fatal and the reason names it', async () => {
    fixture.serve((_req, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end('<p>login</p>'));
    const subject = client();
    const reason = await subject.closed;
    expect(reason).toEqual({
      code: 'content-type',
      status: 200,
      message: 'Expected Content-Type text/event-stream, got text/html.',
    });
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(fixture.requests).toHaveLength(1);
  });

  for (const [wptCase, contentType] of [
    ['format-mime-bogus', 'x bogus'],
    ['format-mime-valid-bogus', 'text/x-bogus'],
    ['no Content-Type at all', undefined],
  ] as const) {
    it(`wpt ${wptCase}: Content-Type ${String(contentType)} fails the connection for good`, async () => {
      fixture.serve((_req, res) => {
        res.writeHead(200, contentType === undefined ? {} : { 'Content-Type': contentType });
        res.end('data: data\n\n');
      });
      const subject = client();
      const seen = record(subject);
      expect(await subject.closed).toMatchObject({
        code: 'content-type',
        message: `Expected Content-Type text/event-stream, got ${contentType ?? 'none'}.`,
      });
      await new Promise((resolve) => setTimeout(resolve, 60));
      expect(seen.events).toEqual([]);
      expect(fixture.requests).toHaveLength(1);
    });
  }

  it('wpt format-mime-trailing-semicolon: `text/event-stream;` opens', async () => {
    fixture.serve((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/event-stream;' });
      res.write('data: data\n\n');
    });
    const subject = client();
    const seen = record(subject);
    await until(() => seen.events.length === 1, 'event');
    expect(seen.states.map((change) => change.state)).toEqual(['connecting', 'open']);
  });

  it('accepts text/event-stream with parameters and any letter case', async () => {
    fixture.serve((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'Text/Event-Stream; charset=windows-1252' });
      res.write('data: ok…\n\n');
    });
    const subject = client();
    const seen = record(subject);
    await until(() => seen.events.length === 1, 'event');
    expect(seen.events[0]!.data).toBe('ok…');
  });

  it('a 404 is final and quotes the server', async () => {
    fixture.serve((_req, res) =>
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('No such\ntopic.\n'),
    );
    const reason = await client().closed;
    expect(reason).toEqual({
      code: 'http-status',
      status: 404,
      message: 'The server answered 404 Not Found: No such topic.',
    });
  });

  it('retries 503 after its Retry-After, then streams', async () => {
    fixture.serve((_req, res, index) => {
      if (index === 0) return res.writeHead(503, { 'Retry-After': '0' }).end('restarting');
      openStream(res);
      res.write('data: back\n\n');
    });
    const subject = client();
    const seen = record(subject);
    await until(() => seen.events.length === 1, 'event after 503');
    expect(seen.states[1]).toMatchObject({
      state: 'retrying',
      attempt: 1,
      reason: {
        code: 'server-error',
        status: 503,
        message: 'The server answered 503 Service Unavailable: restarting.',
      },
    });
  });

  it('refreshes the token after a 401 and connects at once with the new one', async () => {
    fixture.serve((req, res) => {
      if (req.headers.authorization !== 'Bearer fresh') return res.writeHead(401).end('token expired');
      openStream(res);
      res.write('data: welcome\n\n');
    });
    const calls: boolean[] = [];
    const subject = client({
      token: async ({ refresh }) => {
        calls.push(refresh);
        return refresh ? 'fresh' : 'stale';
      },
    });
    const seen = record(subject);
    await until(() => seen.events.length === 1, 'event after refresh');
    expect(calls).toEqual([false, true]);
    expect(fixture.requests.map((request) => request.headers.authorization)).toEqual([
      'Bearer stale',
      'Bearer fresh',
    ]);
    expect(seen.states[1]).toMatchObject({
      state: 'retrying',
      delay: 0,
      reason: { code: 'unauthorized', status: 401 },
    });
  });

  it('gives up after maxAuthAttempts consecutive 401s', async () => {
    fixture.serve((_req, res) => res.writeHead(401).end('bad token'));
    let calls = 0;
    const subject = client({ token: () => `t${++calls}`, maxAuthAttempts: 3 });
    const reason = await subject.closed;
    expect(reason).toEqual({
      code: 'unauthorized',
      status: 401,
      message: 'The server answered 401 Unauthorized: bad token (3 times in a row).',
    });
    expect(fixture.requests.map((request) => request.headers.authorization)).toEqual([
      'Bearer t1',
      'Bearer t2',
      'Bearer t3',
    ]);
  });

  it('a static token refused with 401 closes at once (refreshing cannot help)', async () => {
    fixture.serve((_req, res) => res.writeHead(401).end());
    const reason = await client({ token: 'fixed' }).closed;
    expect(reason).toMatchObject({ code: 'unauthorized', status: 401 });
    expect(fixture.requests).toHaveLength(1);
  });

  it('a token provider that throws is retried with backoff', async () => {
    fixture.serve((_req, res) => {
      openStream(res);
      res.write('data: ok\n\n');
    });
    let calls = 0;
    const subject = client({
      token: () => {
        if (++calls === 1) throw new Error('auth service down');
        return 'good';
      },
    });
    const seen = record(subject);
    await until(() => seen.events.length === 1, 'event');
    expect(seen.states[1]).toMatchObject({
      state: 'retrying',
      reason: { code: 'token-error', message: 'Could not get the token or headers: auth service down' },
    });
    expect(fixture.requests.map((request) => request.headers.authorization)).toEqual(['Bearer good']);
  });

  it('close() stops everything, even from inside a listener in the middle of a chunk', async () => {
    fixture.serve((_req, res) => {
      openStream(res);
      res.write('data: 1\n\ndata: 2\n\ndata: 3\n\n');
    });
    const subject = client();
    const got: string[] = [];
    subject.on('message', (event) => {
      got.push(event.data);
      if (event.data === '2') subject.close();
    });
    const reason = await subject.closed;
    expect(reason).toEqual({ code: 'closed', message: 'Closed by the application.' });
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(got).toEqual(['1', '2']);
    expect(fixture.requests).toHaveLength(1);
  });

  it('an AbortSignal closes the client, and an already aborted one never connects', async () => {
    fixture.serve((_req, res) => openStream(res));
    const controller = new AbortController();
    const subject = client({ signal: controller.signal });
    await until(() => subject.state === 'open', 'open');
    controller.abort();
    expect(await subject.closed).toMatchObject({ code: 'aborted' });

    const early = client({ signal: AbortSignal.abort() });
    expect(await early.closed).toMatchObject({ code: 'aborted' });
    expect(fixture.requests).toHaveLength(1);
  });

  it('persists the last event id in storage so a new client (a reloaded page) resumes', async () => {
    fixture.serve((req, res) => {
      openStream(res);
      const after = Number(req.headers['last-event-id'] ?? 0);
      res.write(`id: ${after + 1}\ndata: x\n\n`);
    });
    const store = new Map<string, string>();
    const storage = { getItem: (key: string) => store.get(key) ?? null, setItem: store.set.bind(store) };
    const first = client({ storage });
    await until(() => first.lastEventId === '1', 'first id');
    first.close();
    expect([...store.values()]).toEqual(['1']);
    const second = client({ storage });
    await until(() => second.lastEventId === '2', 'resumed id');
    expect(fixture.requests[1]!.headers['last-event-id']).toBe('1');
    // An explicit lastEventId (e.g. from Mercure discovery) wins over storage.
    const third = client({ storage, lastEventId: '41' });
    await until(() => third.lastEventId === '42', 'explicit id');
  });

  it('survives storage that throws', async () => {
    fixture.serve((_req, res) => {
      openStream(res);
      res.write('id: 1\ndata: x\n\n');
    });
    const storage = {
      getItem: () => {
        throw new Error('denied');
      },
      setItem: () => {
        throw new Error('quota');
      },
    };
    const subject = client({ storage });
    await until(() => subject.lastEventId === '1', 'id despite storage errors');
  });

  it('sends a non-ASCII id as UTF-8 in the header and an untransportable one in the query', async () => {
    fixture.serve((_req, res) => res.writeHead(204).end());
    await client({ lastEventId: 'urn:évènement:1' }).closed;
    await client({ lastEventId: ' padded\tid ' }).closed;
    const [utf8Request, queryRequest] = fixture.requests;
    expect(Buffer.from(utf8Request!.headers['last-event-id'] as string, 'latin1').toString('utf8')).toBe(
      'urn:évènement:1',
    );
    expect(queryRequest!.headers['last-event-id']).toBeUndefined();
    expect(new URL(queryRequest!.url, 'http://h').searchParams.get('lastEventID')).toBe(' padded\tid ');
  });

  it('surfaces the hub reset signal through onReset only, and resumes from its id', async () => {
    fixture.serve((_req, res) => {
      openStream(res, { 'Last-Event-ID': 'e2-5' });
      const signal = { reason: 'unknown', lastEventId: 'e1-9', resumeFrom: 'e2-5' };
      res.write(
        `:\nid: e2-5\nretry: 10\n\nevent: ssehub-reset\nid: e2-5\ndata: ${JSON.stringify(signal)}\n\n`,
      );
      res.write('id: e2-6\ndata: live\n\n');
    });
    const subject = client({ lastEventId: 'e1-9' });
    const seen = record(subject);
    await until(() => seen.events.length === 1, 'live event');
    expect(seen.resets).toEqual([{ reason: 'unknown', lastEventId: 'e1-9', resumeFrom: 'e2-5' }]);
    expect(seen.events.map((event) => [event.id, event.data])).toEqual([['e2-6', 'live']]);
    expect(seen.states[1]).toEqual({ state: 'open', attempt: 0, resumedAfter: 'e2-5' });
  });

  it('replaces a connection that goes silent (watchdog), resuming after the last id', async () => {
    fixture.serve((req, res, index) => {
      openStream(res);
      if (index === 0) res.write('id: 1\ndata: then silence\n\n');
      else res.write(`data: resumed after ${String(req.headers['last-event-id'])}\n\n`);
    });
    const subject = client({ heartbeatTimeout: 150 });
    const seen = record(subject);
    await until(() => seen.events.length === 2, 'event on the replacement connection');
    expect(seen.events[1]!.data).toBe('resumed after 1');
    expect(seen.states.find((change) => change.state === 'retrying')).toMatchObject({
      reason: {
        code: 'heartbeat-timeout',
        message: 'Nothing received for 150 ms; the connection is presumed dead.',
      },
    });
  });

  it('comments keep the watchdog quiet', async () => {
    // Exact timing is covered on a fake clock; here a wide margin keeps a loaded CI machine honest.
    fixture.serve((_req, res) => {
      openStream(res);
      const timer = setInterval(() => res.write(':\n'), 50);
      res.on('close', () => clearInterval(timer));
    });
    const subject = client({ heartbeatTimeout: 1000 });
    const seen = record(subject);
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(seen.states.map((change) => change.state)).toEqual(['connecting', 'open']);
  });

  it('reconnects immediately on the browser online event while waiting to retry', async () => {
    fixture.serve((_req, res, index) => {
      if (index === 0) return res.writeHead(503).end();
      openStream(res);
      res.write('data: online\n\n');
    });
    const online = new EventTarget();
    const subject = client({ onlineEvents: online, backoff: { initial: 60_000, jitter: 0 } });
    const seen = record(subject);
    await until(() => subject.state === 'retrying', 'waiting a minute');
    online.dispatchEvent(new Event('online'));
    await until(() => seen.events.length === 1, 'event after online');
    expect(seen.states.find((change) => change.state === 'retrying')).toMatchObject({ delay: 60_000 });
  });

  it('reconnect() replaces an open connection at once', async () => {
    fixture.serve((req, res) => {
      openStream(res);
      res.write(`id: ${fixture.requests.length}\ndata: after ${String(req.headers['last-event-id'])}\n\n`);
    });
    const subject = client();
    const seen = record(subject);
    await until(() => seen.events.length === 1, 'first event');
    subject.reconnect();
    await until(() => seen.events.length === 2, 'second event');
    expect(seen.events.map((event) => event.data)).toEqual(['after undefined', 'after 1']);
    expect(seen.states.find((change) => change.state === 'retrying')).toMatchObject({
      delay: 0,
      reason: { code: 'reconnect' },
    });
  });

  it('a network failure (nothing listening) is retried with growing delays', async () => {
    const url = fixture.url;
    await fixture.close();
    const subject = client({ backoff: { initial: 5, factor: 2, max: 20, jitter: 0 } }, url);
    const seen = record(subject);
    await until(
      () => seen.states.filter((change) => change.state === 'retrying').length >= 4,
      'four retries',
    );
    subject.close();
    const retrying = seen.states.filter((change) => change.state === 'retrying');
    expect(retrying.slice(0, 4).map((change) => (change.state === 'retrying' ? change.delay : -1))).toEqual([
      5, 10, 20, 20,
    ]);
    expect(retrying[0]).toMatchObject({ reason: { code: 'network' } });
    fixture = await FixtureServer.start(); // for afterEach
  });

  it('a throwing listener is reported but does not break the stream', async () => {
    fixture.serve((_req, res) => {
      openStream(res);
      res.write('data: 1\n\ndata: 2\n\n');
    });
    const reported: unknown[] = [];
    const scope = globalThis as { reportError?: (error: unknown) => void };
    const original = scope.reportError;
    scope.reportError = (error) => reported.push(error);
    try {
      const subject = client();
      const got: string[] = [];
      subject.on('message', (event) => {
        got.push(event.data);
        throw new Error(`listener failed on ${event.data}`);
      });
      await until(() => got.length === 2, 'both events');
      expect(reported.map((error) => (error as Error).message)).toEqual([
        'listener failed on 1',
        'listener failed on 2',
      ]);
      expect(subject.state).toBe('open');
    } finally {
      scope.reportError = original;
    }
  });
});
