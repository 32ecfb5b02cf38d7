// The same black-box suite for every runtime and framework that serves the hub (issue 15): a
// server configured by test/helpers/fetch-hub-app.ts (BLACK_BOX), seen only through HTTP.
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESET_EVENT_TYPE } from '../../src/protocol/constants.js';
import { BLACK_BOX } from './fetch-hub-app.js';
import { openStream, publish, rawRequest, topicUrl } from './hub.js';
import type { RawStream } from './hub.js';
import { hmacKey, mint, publisherClaims, subscriberClaims } from './tokens.js';
import { eventually } from './wait.js';

export interface BlackBoxTarget {
  /** `http://127.0.0.1:port`. */
  base: string;
  /** Where the hub is mounted; default `/.well-known/mercure`. */
  hubPath?: string;
  /** What only the server knows; default: `GET /__stats` on the target. */
  stats?(): Promise<{ subscribers: number; slow: number }>;
  close(): Promise<void>;
}

const key = hmacKey(BLACK_BOX.secret);

export function blackBoxSuite(name: string, start: () => Promise<BlackBoxTarget>): void {
  describe(`black box: ${name}`, () => {
    let target: BlackBoxTarget | undefined;
    let hubUrl = '';
    let publisher: Record<string, string> = {};
    let subscriberToken = '';
    const open: RawStream[] = [];

    const subscribe = async (topics: string[], headers: Record<string, string> = {}, query = {}) => {
      const stream = await openStream(topicUrl(hubUrl, topics, query), headers);
      open.push(stream);
      return stream;
    };
    const send = async (topic: string, data: string) => {
      const answer = await publish(hubUrl, { topic, data }, publisher);
      expect(answer.status, answer.body).toBe(200);
      return answer.body;
    };
    const stats = async () =>
      target?.stats
        ? target.stats()
        : (JSON.parse((await rawRequest(`${target?.base}/__stats`)).body) as {
            subscribers: number;
            slow: number;
          });

    beforeAll(async () => {
      target = await start();
      hubUrl = target.base + (target.hubPath ?? '/.well-known/mercure');
      publisher = { Authorization: `Bearer ${await mint(key, publisherClaims('*'))}` };
      subscriberToken = await mint(key, subscriberClaims(['*'], 'reader'));
    }, 60_000);
    afterAll(async () => {
      for (const stream of open) stream.destroy();
      await target?.close();
    });

    it('publish and subscribe, with the token in the Authorization header, the cookie or the query', async () => {
      const viaHeader = await subscribe(['a'], { Authorization: `Bearer ${subscriberToken}` });
      const viaCookie = await subscribe(['a'], { Cookie: `mercureAuthorization=${subscriberToken}` });
      const viaQuery = await subscribe(['a'], {}, { authorization: subscriberToken });
      expect(viaHeader.response.statusCode).toBe(200);
      expect(viaHeader.response.headers['content-type']).toBe('text/event-stream');
      const id = await send('a', 'hello');
      for (const stream of [viaHeader, viaCookie, viaQuery]) {
        await stream.waitFor(() => stream.events.length === 1, 5000, 'the event');
        expect(stream.events[0]).toMatchObject({ data: 'hello', lastEventId: id });
        stream.destroy();
      }
    });

    it('resumes after a cut with Last-Event-ID: 0 lost, 0 duplicated; the Last-Event-ID response header', async () => {
      const auth = { Authorization: `Bearer ${subscriberToken}` };
      const first = await subscribe(['resume'], auth);
      for (let i = 0; i < 10; i++) await send('resume', String(i));
      await first.waitFor(() => first.events.length === 10, 5000, 'the first 10');
      first.destroy();
      const seen = first.lastEventId();
      for (let i = 10; i < 20; i++) await send('resume', String(i));
      const second = await subscribe(['resume'], { ...auth, 'Last-Event-ID': seen });
      expect(second.response.headers['last-event-id']).toBe(seen);
      for (let i = 20; i < 25; i++) await send('resume', String(i));
      await second.waitFor(() => second.events.length >= 15, 5000, 'the rest');
      const data = [...first.events, ...second.events].map((event) => Number(event.data));
      expect(data).toEqual(Array.from({ length: 25 }, (_, i) => i));
      second.destroy();
    });

    it('sends the reset signal for an unknown Last-Event-ID, and heartbeats on an idle stream', async () => {
      const stream = await subscribe(['idle'], {
        Authorization: `Bearer ${subscriberToken}`,
        'Last-Event-ID': 'no-such-event',
      });
      await stream.waitFor(
        () => stream.events.some((event) => event.type === RESET_EVENT_TYPE),
        5000,
        'reset',
      );
      expect(JSON.parse(stream.events[0]?.data ?? '{}')).toMatchObject({ reason: 'unknown' });
      const before = stream.comments.length;
      await stream.waitFor(() => stream.comments.length > before, 5000, 'a heartbeat');
      stream.destroy();
    });

    it('drops a slow reader at its bound while a fast one gets every event', async () => {
      const url = topicUrl(hubUrl, ['big'], { authorization: subscriberToken });
      const slow = await stalledSubscriber(url);
      const fast = await subscribe(['big'], { Authorization: `Bearer ${subscriberToken}` });
      const slowBefore = (await stats()).slow;
      const payload = 'x'.repeat(60 * 1024);
      let sent = 0;
      // Far more than socket buffers plus the bound, if it takes that long; stop once it is dropped.
      while (sent < 400 && (sent % 20 !== 0 || (await stats()).slow === slowBefore)) {
        await send('big', `${sent} ${payload}`);
        sent++;
        await fast.waitFor(() => fast.events.length === sent, 5000, `event ${sent} on the fast reader`);
      }
      expect((await stats()).slow).toBe(slowBefore + 1);
      slow.destroy();
      expect(fast.events.map((event) => Number(event.data.split(' ')[0]))).toEqual(
        Array.from({ length: sent }, (_, i) => i),
      );
      fast.destroy();
    }, 60_000);

    it('a cancelled or cut stream leaves zero subscribers', async () => {
      for (const stream of open) stream.destroy();
      await eventually(async () => (await stats()).subscribers === 0, 5000, 'zero subscribers');
      const cut = await subscribe(['gone'], { Authorization: `Bearer ${subscriberToken}` });
      const aborter = new AbortController();
      const cancelled = await fetch(topicUrl(hubUrl, ['gone']), {
        headers: { Authorization: `Bearer ${subscriberToken}` },
        signal: aborter.signal,
      });
      const reader = cancelled.body?.getReader();
      await reader?.read();
      expect((await stats()).subscribers).toBe(2);
      cut.destroy();
      await reader?.cancel();
      aborter.abort();
      await eventually(async () => (await stats()).subscribers === 0, 5000, 'zero subscribers');
    });

    it('refuses: 401 without a token or with a bad one, 403 for a topic the token may not publish', async () => {
      expect((await rawRequest(topicUrl(hubUrl, ['a']))).status).toBe(401);
      expect((await rawRequest(topicUrl(hubUrl, ['a'], { authorization: 'not.a.token' }))).status).toBe(401);
      expect((await publish(hubUrl, { topic: 'a', data: 'x' })).status).toBe(401);
      const narrow = { Authorization: `Bearer ${await mint(key, publisherClaims('only-this'))}` };
      const refused = await publish(hubUrl, { topic: 'a', data: 'x' }, narrow);
      expect(refused.status).toBe(403);
      expect(refused.body).toMatch(/^Forbidden: .+\n$/);
    });

    it('bad input gets a 4xx and one line: no topic, wrong type, too large, wrong method; CORS', async () => {
      const auth = { Authorization: `Bearer ${subscriberToken}` };
      const noTopic = await rawRequest(hubUrl, { headers: auth });
      expect([noTopic.status, noTopic.body]).toEqual([400, 'Missing "topic" parameter.\n']);
      expect((await publish(hubUrl, { data: 'x' }, publisher)).status).toBe(400);
      const wrongType = await rawRequest(hubUrl, {
        method: 'POST',
        headers: { ...publisher, 'Content-Type': 'application/json' },
        body: '{}',
      });
      expect(wrongType.status).toBe(415);
      const huge = await publish(hubUrl, { topic: 'a', data: 'x'.repeat(BLACK_BOX.maxBodyBytes) }, publisher);
      expect(huge.status).toBe(413);
      // 405 from the hub, or 404 from a framework that routes only the hub's methods to it.
      expect([404, 405]).toContain((await rawRequest(hubUrl, { method: 'PUT' })).status);
      const preflight = await rawRequest(hubUrl, {
        method: 'OPTIONS',
        headers: { Origin: BLACK_BOX.corsOrigin, 'Access-Control-Request-Method': 'GET' },
      });
      expect(preflight.status).toBe(204);
      expect(preflight.headers['access-control-allow-origin']).toBe(BLACK_BOX.corsOrigin);
      const foreign = await rawRequest(hubUrl, {
        method: 'OPTIONS',
        headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'GET' },
      });
      expect(foreign.status).toBe(403);
      const crossOrigin = await subscribe(['a'], { ...auth, Origin: BLACK_BOX.corsOrigin });
      expect(crossOrigin.response.headers['access-control-allow-origin']).toBe(BLACK_BOX.corsOrigin);
      expect(crossOrigin.response.headers['access-control-expose-headers']).toContain('Last-Event-ID');
      crossOrigin.destroy();
    });
  });
}

/** A subscriber that sends its request, reads the head, then stops reading its socket. */
function stalledSubscriber(url: string): Promise<Socket> {
  const { hostname, port, pathname, search } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) }, () => {
      socket.write(
        `GET ${pathname}${search} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nAccept: text/event-stream\r\n\r\n`,
      );
    });
    socket.once('data', () => {
      socket.pause();
      resolve(socket);
    });
    socket.on('error', () => undefined);
    socket.once('close', () => reject(new Error('closed before headers')));
  });
}
