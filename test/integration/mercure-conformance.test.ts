import { createServer } from 'node:http';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { chromiumAvailable, launchChromium } from '../helpers/browser.js';
import type { HubConfig } from '../../src/server/config.js';
import { openStream, publish, rawRequest, startTestHub, topicUrl } from '../helpers/hub.js';
import type { RawStream, TestHub } from '../helpers/hub.js';
import { expectRefused } from '../helpers/auth-answers.js';
import { HS_SECRET, bearer, hmacKey, mint, publisherClaims, subscriberClaims } from '../helpers/tokens.js';
import { eventually } from '../helpers/wait.js';
import { watchStreamConnections } from '../helpers/stream-connections.js';

/**
 * Black-box conformance of the standalone hub to the Mercure protocol (draft-07 as the 0.x hubs
 * speak it, draft-08 names where they do not conflict) and to the WHATWG server-sent events rules,
 * over real HTTP. One case per rule, named after it; docs/protocol.md "Conformance" maps each rule
 * to its status and its test.
 *
 * Rules that other files already check well are not repeated here:
 * - publish: 200 text/plain with the id as body; supplied ids; `private` by presence; 400 for
 *   CR/LF/NUL in id/type, `#id`, `earliest`, missing/empty/`*`/reserved topic, bad retry; 415; 413
 *   (test/integration/publish.test.ts)
 * - subscribe: text/event-stream + Cache-Control + X-Accel-Buffering + Last-Event-ID headers, `:`
 *   first, retry on connect, heartbeats, exact / template / `*` matching, alternate topics, one
 *   delivery per event, multi-line data, 400 for no/empty/too many topics, match= and
 *   last_event_id= (test/integration/subscribe.test.ts)
 * - Last-Event-ID header, lastEventID query, header wins, `earliest`, reset signal
 *   (test/integration/resume.test.ts)
 * - 401/403 with WWW-Authenticate for every bad token, publish rights on every topic (alternates
 *   too), header > query > cookie precedence, namespaced claim, CSRF for cookie publishes, CORS
 *   preflight and allowlist (test/integration/auth/security.test.ts)
 * - private updates by canonical or alternate topic, live and replayed (test/integration/auth/private-updates.test.ts)
 * - exp closes the stream; an expired token gets 401 (test/integration/auth/refresh.test.ts)
 * - browsers: EventSource with the cookie, cross-origin (test/integration/auth/browser-cors.test.ts,
 *   test/browser/native-eventsource.test.ts, test/browser/mercure-interop.test.ts)
 */

const key = hmacKey();
const SECURED: Partial<HubConfig> = { jwtKey: HS_SECRET, demo: false, publishRatePerSecond: 0 };
const APP_ORIGIN = 'http://app.example';

let hub: TestHub | undefined;
const streams: RawStream[] = [];
afterEach(async () => {
  for (const stream of streams.splice(0)) stream.destroy();
  await hub?.close();
  hub = undefined;
});

async function subscribe(url: string, headers: Record<string, string> = {}): Promise<RawStream> {
  const stream = await openStream(url, headers);
  streams.push(stream);
  expect(stream.response.statusCode, stream.text()).toBe(200);
  return stream;
}

async function published(
  target: TestHub,
  fields: Record<string, string | readonly string[]>,
  headers: Record<string, string> = {},
): Promise<string> {
  const answer = await publish(target.hubUrl, fields, headers);
  expect(answer.status, answer.body).toBe(200);
  return answer.body;
}

/**
 * Publishes two events, then subscribes as `request` says given the first one's id: the stream
 * must resume after it (only the second event), and its Last-Event-ID header must name it.
 */
async function expectResumesAfterFirst(
  target: TestHub,
  request: (first: string) => { query?: Record<string, string>; headers?: Record<string, string> },
): Promise<void> {
  const first = await published(target, { topic: 't', data: '1' });
  await published(target, { topic: 't', data: '2' });
  const { query = {}, headers = {} } = request(first);
  const stream = await subscribe(topicUrl(target.hubUrl, ['t'], query), headers);
  await stream.waitFor(() => stream.events.length === 1);
  expect(stream.events.map((event) => event.data)).toEqual(['2']);
  expect(stream.response.headers['last-event-id']).toBe(first);
}

/** Sends a raw HTTP/1.1 request and returns the response head and the first body bytes. */
function rawExchange(url: string, request: string, until: (received: string) => boolean): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(request));
    let received = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`timed out; got ${JSON.stringify(received)}`));
    }, 10_000);
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      if (!until(received)) return;
      clearTimeout(timer);
      socket.destroy();
      resolve(received);
    });
    socket.on('error', reject);
  });
}

interface ConformanceCase {
  /** The rule, as the spec states it. */
  rule: string;
  /** Where it comes from. */
  source: string;
  config?: Partial<HubConfig>;
  check(hub: TestHub): Promise<void>;
}

const publishing: ConformanceCase[] = [
  {
    rule: 'publish: data is optional; an update without data is dispatched with empty data',
    source: 'draft-07 §Publication',
    async check(target) {
      const stream = await subscribe(topicUrl(target.hubUrl, ['t']));
      const id = await published(target, { topic: 't' });
      await stream.waitFor(() => stream.events.length === 1);
      expect(stream.events[0]).toMatchObject({ data: '', lastEventId: id });
      expect(stream.text()).toContain(`id: ${id}\ndata: \n\n`);
    },
  },
  {
    rule: 'publish: an empty id, type or retry field counts as absent (the hub generates the id)',
    source: '0.x reference hub (an empty form field is a missing one)',
    async check(target) {
      const stream = await subscribe(topicUrl(target.hubUrl, ['t']));
      const id = await published(target, { topic: 't', data: 'x', id: '', type: '', retry: '' });
      expect(id).not.toBe('');
      await stream.waitFor(() => stream.events.length === 1);
      expect(stream.events[0]).toMatchObject({ data: 'x', type: 'message', lastEventId: id });
      expect(stream.text()).not.toMatch(/^retry: (?!3000$)/m);
    },
  },
  {
    rule: 'publish: retry=0 is passed on as retry: 0 (deliberate; the reference hub drops a zero retry)',
    source: 'draft-07 §Publication (retry → the SSE retry field)',
    async check(target) {
      const stream = await subscribe(topicUrl(target.hubUrl, ['t']));
      const id = await published(target, { topic: 't', data: 'x', retry: '0' });
      await stream.waitFor(() => stream.events.length === 1);
      expect(stream.text()).toContain(`id: ${id}\nretry: 0\ndata: x\n\n`);
    },
  },
  {
    rule: 'publish: the form may declare a charset (application/x-www-form-urlencoded; charset=UTF-8)',
    source: 'draft-07 §Publication; form encoders of Symfony and others add it',
    async check(target) {
      const stream = await subscribe(topicUrl(target.hubUrl, ['https://example.com/a b']));
      const answer = await rawRequest(target.hubUrl, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded; charset=UTF-8' },
        // PHP's http_build_query encodes spaces as "+": they decode as in any form.
        body: 'topic=https%3A%2F%2Fexample.com%2Fa+b&data=caf%C3%A9+au+lait',
      });
      expect(answer.status, answer.body).toBe(200);
      await stream.waitFor(() => stream.events.length === 1);
      expect(stream.events[0]?.data).toBe('café au lait');
    },
  },
  {
    rule: 'publish: a client waiting for 100 Continue (curl, PHP) gets it, then its answer',
    source: 'RFC 9110 §10.1.1; what curl-based publishers send for larger bodies',
    async check(target) {
      const body = `topic=t&data=${'x'.repeat(2000)}`;
      const { host, pathname } = new URL(target.hubUrl);
      const socket = connect(Number(new URL(target.hubUrl).port), '127.0.0.1');
      let received = '';
      const continued = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no 100 Continue; got ${received}`)), 10_000);
        socket.on('error', reject);
        socket.on('data', (chunk: Buffer) => {
          received += chunk.toString('latin1');
          if (received.startsWith('HTTP/1.1 100 Continue\r\n\r\n')) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      socket.write(
        `POST ${pathname} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/x-www-form-urlencoded\r\n` +
          `Content-Length: ${body.length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`,
      );
      await continued;
      socket.write(body);
      await new Promise<void>((resolve) => socket.on('close', () => resolve()));
      const answer = received.slice(received.indexOf('\r\n\r\n') + 4);
      expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(answer.split('\r\n\r\n')[1]).toBe(await target.hub.store.head());
    },
  },
  {
    rule: 'publish: 2xx answers carry Cache-Control: private (the token may be in the URL)',
    source: 'draft-07 §Authorization (query parameter)',
    async check(target) {
      const answer = await publish(target.hubUrl, { topic: 't', data: 'x' });
      expect(answer.status).toBe(200);
      expect(String(answer.headers['cache-control']).split(/,\s*/)).toContain('private');
    },
  },
  {
    rule: 'publish: more than 1000 topics in one update is refused with 400',
    source: '0.x reference hub',
    async check(target) {
      const topics = Array.from({ length: 1001 }, (_, i) => `t${i}`);
      const answer = await publish(target.hubUrl, { topic: topics, data: 'x' });
      expectRefused(answer, 400, /Too many topics: at most 1000/);
      expect(await target.hub.store.head()).toBe('earliest');
    },
  },
  {
    rule: 'publish: a topic with control characters is refused with 400',
    source: 'draft-08 §Publication',
    async check(target) {
      for (const topic of ['a\tb', 'a\u007fb', 'a\u0001']) {
        const answer = await publish(target.hubUrl, { topic, data: 'x' });
        expectRefused(answer, 400, /control characters/);
      }
      expect(await target.hub.store.head()).toBe('earliest');
    },
  },
  {
    rule: 'publish: the event type "mercure" is reserved (400)',
    source: 'draft-08 §Publication',
    async check(target) {
      const answer = await publish(target.hubUrl, { topic: 't', data: 'x', type: 'mercure' });
      expectRefused(answer, 400, /"type" "mercure" is reserved/);
      expect(await target.hub.store.head()).toBe('earliest');
    },
  },
  {
    rule: 'publish: a topic under the hub path is reserved, also behind percent-encoding or dot segments (400)',
    source: 'draft-08 §Publication; 0.x refuses topics containing /.well-known/mercure',
    async check(target) {
      const disguised = [
        '/.well-known/mercure/subscriptions/x',
        'https://example.com/.well-known/mercure',
        'https://example.com/.well-known/%6Dercure/subscriptions',
        'https://example.com/.well-known/%6d%65rcure',
        'https://example.com/books/../.well-known/mercure/ssehub/control',
        'https://example.com/books/%2E%2E/.well-known/mercure',
        'books/./../.well-known/mercure',
      ];
      for (const topic of disguised) {
        const answer = await publish(target.hubUrl, { topic, data: 'x' });
        expectRefused(answer, 400, /reserved/);
      }
      expect(await target.hub.store.head()).toBe('earliest');
      // Look-alikes that are not under the hub path stay usable.
      for (const topic of [
        'https://example.com/.well-known/mercury',
        'https://example.com/well-known/mercure',
      ]) {
        await published(target, { topic, data: 'fine' });
      }
    },
  },
  {
    rule: 'publish: the publisher token may come from the authorization query parameter',
    source: 'draft-07 §Authorization',
    config: SECURED,
    async check(target) {
      const token = await mint(key, publisherClaims('t'));
      const answer = await publish(`${target.hubUrl}?authorization=${token}`, { topic: 't', data: 'x' });
      expect(answer.status, answer.body).toBe(200);
      const hidden = await publish(
        `${target.hubUrl}?authorization=${token}`,
        { topic: 't', data: 'x' },
        bearer('bad'),
      );
      expectRefused(hidden, 401, /malformed token/, 'malformed token');
    },
  },
];

const subscribing: ConformanceCase[] = [
  {
    rule: 'subscribe: the stream head carries Pragma: no-cache (as the reference hub)',
    source: '0.x subscribe.go',
    async check(target) {
      const stream = await subscribe(topicUrl(target.hubUrl, ['t']));
      expect(stream.response.headers.pragma).toBe('no-cache');
    },
  },
  {
    rule: 'subscribe: headers and the first bytes are sent at once, before any event',
    source: 'draft-07 §Subscription; WHATWG authoring notes',
    async check(target) {
      const path = new URL(topicUrl(target.hubUrl, ['t']));
      const head = await rawExchange(
        target.hubUrl,
        `GET ${path.pathname}${path.search} HTTP/1.1\r\nHost: ${path.host}\r\n\r\n`,
        (received) => /\r\n\r\n[\s\S]*:\n/.test(received),
      );
      expect(head).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(head.toLowerCase()).toContain('content-type: text/event-stream\r\n');
      expect(head.toLowerCase()).toContain('connection: keep-alive\r\n');
    },
  },
  {
    rule: 'subscribe: no Accept header is needed',
    source: 'draft-07 §Subscription (EventSource semantics; the reference hub does not check it)',
    async check(target) {
      const path = new URL(topicUrl(target.hubUrl, ['t']));
      const head = await rawExchange(
        target.hubUrl,
        `GET ${path.pathname}${path.search} HTTP/1.1\r\nHost: ${path.host}\r\nAccept: */*\r\n\r\n`,
        (received) => received.includes('\r\n\r\n'),
      );
      expect(head).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    },
  },
  {
    rule: 'subscribe: the legacy Last-Event-ID query parameter resumes too',
    source: 'older Mercure revisions (0.x compatibility mode)',
    check: (target) => expectResumesAfterFirst(target, (first) => ({ query: { 'Last-Event-ID': first } })),
  },
  {
    rule: 'subscribe: the Mercure-Last-Event-ID request header resumes too',
    source: 'draft-08 §Reconciliation',
    check: (target) =>
      expectResumesAfterFirst(target, (first) => ({ headers: { 'Mercure-Last-Event-ID': first } })),
  },
  {
    rule: 'subscribe: an empty Last-Event-ID header does not hide the lastEventID query parameter',
    source: '0.x reference hub (an empty header counts as absent)',
    check: (target) =>
      expectResumesAfterFirst(target, (first) => ({
        query: { lastEventID: first },
        headers: { 'Last-Event-ID': '' },
      })),
  },
  {
    rule: 'subscribe: the lastEventId query parameter (as EventSource polyfills add it) resumes too',
    source: 'event-source-polyfill (a real client)',
    check: (target) => expectResumesAfterFirst(target, (first) => ({ query: { lastEventId: first } })),
  },
  {
    rule: 'subscribe: the Last-Event-ID response header differs from an unknown requested id, so the client knows it may have missed events',
    source: 'draft-07 §Reconciliation',
    async check(target) {
      const newest = await published(target, { topic: 't', data: '1' });
      const stream = await subscribe(
        topicUrl(target.hubUrl, ['t'], { lastEventID: 'urn:uuid:never-issued' }),
      );
      expect(stream.response.headers['last-event-id']).toBe(newest);
      expect(stream.response.headers['mercure-last-event-id']).toBe(newest);
    },
  },
  {
    rule: 'subscribe: non-ASCII ids resume from the Last-Event-ID header a browser sends (UTF-8)',
    source: 'WHATWG §The Last-Event-ID header',
    async check(target) {
      const id = 'urn:événement:1';
      await published(target, { topic: 't', data: '1', id });
      const next = await published(target, { topic: 't', data: '2' });
      const first = await subscribe(topicUrl(target.hubUrl, ['t'], { lastEventID: 'earliest' }));
      await first.waitFor(() => first.events.length === 2);
      expect(first.events.map((event) => event.lastEventId)).toEqual([id, next]);
      // Node sends header strings as Latin-1: these are the UTF-8 bytes a browser puts on the wire.
      const utf8OnTheWire = Buffer.from(id, 'utf8').toString('latin1');
      const resumed = await subscribe(topicUrl(target.hubUrl, ['t']), { 'Last-Event-ID': utf8OnTheWire });
      await resumed.waitFor(() => resumed.events.length === 1);
      expect(resumed.events[0]?.lastEventId).toBe(next);
      // A header cannot carry the id as is: the response header percent-encodes it.
      expect(resumed.response.headers['last-event-id']).toBe(encodeURI(id));
    },
  },
  {
    rule: 'subscribe: a reused id names one event: an identical repeat is stored once, another event under it is refused (409)',
    source: 'draft-08 §Reconciliation (duplicate ids)',
    async check(target) {
      await published(target, { topic: 't', data: 'a', id: 'urn:dup' });
      await published(target, { topic: 't', data: 'b' });
      expect(await published(target, { topic: 't', data: 'a', id: 'urn:dup' })).toBe('urn:dup');
      const other = await publish(target.hubUrl, { topic: 't', data: 'c', id: 'urn:dup' });
      expectRefused(other, 409, /already used/);
      await published(target, { topic: 't', data: 'd' });
      const stream = await subscribe(topicUrl(target.hubUrl, ['t']), { 'Last-Event-ID': 'urn:dup' });
      await stream.waitFor(() => stream.events.length === 2);
      expect(stream.events.map((event) => event.data)).toEqual(['b', 'd']);
    },
  },
  {
    rule: 'subscribe: the optional QUERY method is not supported; it is refused plainly (405 with Allow)',
    source: 'draft-08 §Subscription (QUERY, optional)',
    async check(target) {
      const answer = await rawRequest(target.hubUrl, {
        method: 'QUERY',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: 'topic=t',
      });
      expectRefused(answer, 405, /Method QUERY not allowed/);
      expect(answer.headers.allow).toBe('GET, POST, OPTIONS');
    },
  },
  {
    rule: 'subscribe: match_exact= is byte-for-byte, never a URI template',
    source: 'draft-08 §Subscription',
    async check(target) {
      const template = 'https://example.com/books/{id}';
      const stream = await subscribe(`${target.hubUrl}?match_exact=${encodeURIComponent(template)}`);
      await published(target, { topic: 'https://example.com/books/1', data: 'expanded' });
      const literal = await published(target, { topic: template, data: 'literal' });
      await stream.waitFor(() => stream.events.length >= 1);
      expect(stream.events.map((event) => event.lastEventId)).toEqual([literal]);
    },
  },
  {
    rule: 'subscribe: private updates reach a subscriber through an alternate topic matched by its {?topic} right',
    source: 'draft-07 §Authorization (the per-user trick)',
    config: { ...SECURED, allowAnonymous: true },
    async check(target) {
      const book = 'https://example.com/books/1';
      const aliceAlternate = `https://example.com/users/alice/?topic=${encodeURIComponent(book)}`;
      const alice = await subscribe(
        topicUrl(target.hubUrl, ['https://example.com/books/{id}']),
        bearer(
          await mint(key, subscriberClaims(['https://example.com/users/alice/{?topic}'], 'alice'), {
            expiresIn: 600,
          }),
        ),
      );
      const bob = await subscribe(
        topicUrl(target.hubUrl, ['https://example.com/books/{id}']),
        bearer(
          await mint(key, subscriberClaims(['https://example.com/users/bob/{?topic}'], 'bob'), {
            expiresIn: 600,
          }),
        ),
      );
      const publisher = bearer(await mint(key, publisherClaims('*')));
      const forAlice = await published(
        target,
        { topic: [book, aliceAlternate], data: 'for alice', private: 'on' },
        publisher,
      );
      const everyone = await published(target, { topic: book, data: 'public' }, publisher);
      await alice.waitFor(() => alice.events.length === 2);
      await bob.waitFor(() => bob.events.length === 1);
      expect(alice.events.map((event) => event.lastEventId)).toEqual([forAlice, everyone]);
      expect(bob.events.map((event) => event.lastEventId)).toEqual([everyone]);
    },
  },
  {
    rule: 'subscribe: the hub closes the stream when the token expires, at exp (not exp plus the clock-skew leeway)',
    source: 'draft-07 §Authorization (MUST close the connection at exp)',
    // A leeway far longer than the wait below: a stream kept open until exp + leeway fails the case.
    config: { ...SECURED, jwtLeewaySeconds: 60 },
    async check(target) {
      const token = await mint(key, subscriberClaims(['t']), { expiresIn: 2 });
      const exp = JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()).exp * 1000;
      const stream = await subscribe(topicUrl(target.hubUrl, ['t']), bearer(token));
      await stream.waitFor(() => stream.response.closed, 20_000, 'the stream to close');
      // The hub checks expiries once a second; the margin covers a loaded machine, not the leeway.
      expect(Date.now()).toBeLessThan(exp + 20_000);
      expect(Date.now()).toBeGreaterThanOrEqual(exp);
    },
  },
  {
    rule: 'subscribe: the Bearer scheme is case-insensitive',
    source: 'RFC 6750 / RFC 9110 (auth schemes are case-insensitive)',
    config: SECURED,
    async check(target) {
      const token = await mint(key, subscriberClaims(['t']), { expiresIn: 600 });
      await subscribe(topicUrl(target.hubUrl, ['t']), { Authorization: `bearer ${token}` });
    },
  },
];

const sse: ConformanceCase[] = [
  {
    rule: 'sse: every dispatched event carries an id',
    source: 'draft-07 §Reconciliation',
    async check(target) {
      const stream = await subscribe(topicUrl(target.hubUrl, ['t'], { lastEventID: 'unknown' }));
      await published(target, { topic: 't', data: 'a' });
      await published(target, { topic: 't', data: 'b', type: 'typed', retry: '10' });
      await stream.waitFor(() => stream.events.filter((event) => event.type !== 'ssehub-reset').length === 2);
      const blocks = stream
        .text()
        .split('\n\n')
        .filter((block) => /^data:/m.test(block));
      expect(blocks).toHaveLength(3);
      for (const block of blocks) expect(block).toMatch(/^id: \S/m);
    },
  },
  {
    rule: 'sse: a heartbeat comment about every 15 s by default',
    source: 'WHATWG authoring notes; draft-08 keep-alive (SHOULD)',
    async check(target) {
      expect(target.hub.heartbeatIntervalMs).toBe(15_000);
    },
  },
];

const cors: ConformanceCase[] = [
  {
    rule: 'cors: with no origins configured, no CORS header is sent (same-origin only)',
    source: 'draft-08 §CORS (allowlist)',
    async check(target) {
      const preflight = await rawRequest(target.hubUrl, {
        method: 'OPTIONS',
        headers: { Origin: APP_ORIGIN, 'Access-Control-Request-Method': 'GET' },
      });
      expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
      const stream = await subscribe(topicUrl(target.hubUrl, ['t']), { Origin: APP_ORIGIN });
      expect(stream.response.headers['access-control-allow-origin']).toBeUndefined();
    },
  },
  {
    rule: 'cors: "*" lets any origin in, never with credentials',
    source: 'draft-08 §CORS; Fetch (no * with credentials)',
    config: { corsOrigins: ['*'] },
    async check(target) {
      const preflight = await rawRequest(target.hubUrl, {
        method: 'OPTIONS',
        headers: {
          Origin: APP_ORIGIN,
          'Access-Control-Request-Method': 'GET',
          'Access-Control-Request-Headers': 'last-event-id',
        },
      });
      expect(preflight.status).toBe(204);
      expect(preflight.headers['access-control-allow-origin']).toBe('*');
      expect(preflight.headers['access-control-allow-credentials']).toBeUndefined();
      const stream = await subscribe(topicUrl(target.hubUrl, ['t']), { Origin: APP_ORIGIN });
      expect(stream.response.headers['access-control-allow-origin']).toBe('*');
      expect(stream.response.headers['access-control-allow-credentials']).toBeUndefined();
    },
  },
  {
    rule: 'cors: a cross-origin publish from an allowed origin can read its answer (the id)',
    source: 'draft-08 §CORS',
    config: { corsOrigins: [APP_ORIGIN] },
    async check(target) {
      const answer = await publish(target.hubUrl, { topic: 't', data: 'x' }, { Origin: APP_ORIGIN });
      expect(answer.status).toBe(200);
      expect(answer.headers['access-control-allow-origin']).toBe(APP_ORIGIN);
      expect(answer.headers['access-control-allow-credentials']).toBe('true');
    },
  },
];

for (const [group, cases] of Object.entries({ publishing, subscribing, sse, cors })) {
  describe(`Mercure conformance: ${group}`, () => {
    for (const testCase of cases) {
      it(testCase.rule, async () => {
        hub = await startTestHub({ config: { demo: false, ...testCase.config } });
        await testCase.check(hub);
      });
    }
  });
}

declare global {
  interface Window {
    conformanceReceived: string[];
  }
}

const browserRunnable = chromiumAvailable('Mercure conformance in Chromium');

(browserRunnable ? describe : describe.skip)('Mercure conformance: in Chromium', () => {
  it('cors: a cross-origin EventSource reconnects with a urn:uuid Last-Event-ID and resumes', async () => {
    const page = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end('<!doctype html><title>app</title>');
    });
    await new Promise<void>((resolve) => page.listen(0, '127.0.0.1', resolve));
    const address = page.address();
    const origin = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    const browser = await launchChromium();
    try {
      const target = await startTestHub({ config: { corsOrigins: [origin], retryMs: 100, demo: false } });
      hub = target;
      const { sockets: streamSockets, lastEventIds: resumeHeaders } = watchStreamConnections(target.server);
      const tab = await browser.context.newPage();
      await tab.goto(origin);
      await tab.evaluate(
        (url) => {
          window.conformanceReceived = [];
          const source = new EventSource(url);
          source.onmessage = (event) => window.conformanceReceived.push(`${event.lastEventId} ${event.data}`);
        },
        topicUrl(target.hubUrl, ['t']),
      );
      await eventually(() => streamSockets.size === 1, 10_000);
      // Chromium sends Last-Event-ID on a cross-origin reconnect without a preflight, whatever the
      // id; engines that preflight it get `last-event-id` allowed (security.test.ts, CORS).
      const id = 'urn:uuid:3f1e2a4c-0d6b-4c8e-9a51-7b2f0c9d1e63';
      await published(target, { topic: 't', data: 'first', id });
      await tab.waitForFunction(() => window.conformanceReceived.length === 1, undefined, {
        timeout: 10_000,
      });
      // Drop the connection from the server side, as a network failure would; the browser reconnects.
      const [socket] = streamSockets;
      socket?.destroy();
      await eventually(() => !streamSockets.has(socket as Socket), 10_000);
      const missed = await published(target, { topic: 't', data: 'while away' });
      await tab.waitForFunction(() => window.conformanceReceived.length === 2, undefined, {
        timeout: 15_000,
      });
      expect(await tab.evaluate(() => window.conformanceReceived)).toEqual([
        `${id} first`,
        `${missed} while away`,
      ]);
      expect(resumeHeaders).toEqual([undefined, id]);
    } finally {
      await browser.close();
      page.close();
    }
  }, 60_000);
});
