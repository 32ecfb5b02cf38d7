import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { connect } from 'node:http2';
import type { ClientHttp2Session, IncomingHttpHeaders } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { EventStreamParser } from '../../../src/protocol/parse.js';
import type { ParsedEvent } from '../../../src/protocol/parse.js';
import { createHubServer } from '../../../src/server/app.js';
import type { HubServer } from '../../../src/server/app.js';
import { HUB_PATH } from '../../helpers/stream-reader.js';
import { parseMetrics } from '../../helpers/metrics.js';
import { selfSignedCertificate } from '../../helpers/tls.js';

const dir = mkdtempSync(join(tmpdir(), 'ssehub-tls-'));
const files = selfSignedCertificate(dir, 'HTTP/2 tests');

interface H2Stream {
  headers: Promise<IncomingHttpHeaders>;
  events: ParsedEvent[];
  ended: Promise<void>;
  waitFor(count: number, timeoutMs?: number): Promise<void>;
}

function subscribeH2(session: ClientHttp2Session, topic: string, lastEventId?: string): H2Stream {
  const stream = session.request({
    ':path': `${HUB_PATH}?topic=${encodeURIComponent(topic)}`,
    accept: 'text/event-stream',
    ...(lastEventId ? { 'last-event-id': lastEventId } : {}),
  });
  const events: ParsedEvent[] = [];
  const parser = new EventStreamParser({ onEvent: (event) => events.push(event) });
  stream.on('data', (chunk: Buffer) => parser.push(chunk));
  const ended = new Promise<void>((resolve, reject) => {
    stream.on('end', () => resolve());
    stream.on('error', reject);
  });
  ended.catch(() => undefined);
  return {
    headers: new Promise((resolve) => stream.once('response', resolve)),
    events,
    ended,
    waitFor: async (count, timeoutMs = 5000) => {
      const deadline = Date.now() + timeoutMs;
      while (events.length < count) {
        if (Date.now() > deadline) throw new Error(`${topic}: ${events.length} of ${count} events`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
  };
}

function requestH2(
  session: ClientHttp2Session,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers);
    let text = '';
    let responseHeaders: IncomingHttpHeaders = {};
    stream.on('response', (h) => (responseHeaders = h));
    stream.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    stream.on('end', () =>
      resolve({ status: Number(responseHeaders[':status']), headers: responseHeaders, body: text }),
    );
    stream.on('error', reject);
    stream.end(body);
  });
}

function publishH2(session: ClientHttp2Session, topic: string, data: string) {
  return requestH2(
    session,
    { ':method': 'POST', ':path': HUB_PATH, 'content-type': 'application/x-www-form-urlencoded' },
    new URLSearchParams({ topic, data }).toString(),
  );
}

describe.runIf(files !== undefined)('HTTP/2 over TLS', () => {
  let hub: HubServer;
  let url: string;
  let ca: Buffer;

  beforeAll(async () => {
    ca = readFileSync(files!.cert);
    hub = createHubServer({
      config: { port: 0, demo: false, tlsCert: files!.cert, tlsKey: files!.key, heartbeatMs: 0 },
    });
    url = await hub.listen();
  });

  afterAll(async () => {
    await hub?.close(2000);
    rmSync(dir, { recursive: true, force: true });
  });

  test('several concurrent event streams and publishes share one connection', async () => {
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const session = connect(url, { ca });
    session.on('error', () => undefined);
    try {
      const topics = Array.from({ length: 8 }, (_, i) => `urn:h2:${i}`);
      const streams = topics.map((topic) => subscribeH2(session, topic));
      for (const stream of streams) {
        const headers = await stream.headers;
        expect(headers[':status']).toBe(200);
        expect(headers['content-type']).toBe('text/event-stream');
        // Connection-specific headers are forbidden in HTTP/2.
        expect(headers.connection).toBeUndefined();
      }
      const published = await Promise.all(
        topics.flatMap((topic) => [1, 2, 3].map((n) => publishH2(session, topic, `${topic}#${n}`))),
      );
      for (const answer of published) expect(answer.status).toBe(200);
      for (const [i, stream] of streams.entries()) {
        await stream.waitFor(3);
        // Each stream saw only its own topic; publishes of one topic may race, so compare as sets.
        expect(stream.events.map((e) => e.data).sort()).toEqual([1, 2, 3].map((n) => `${topics[i]}#${n}`));
      }
      const metrics = parseMetrics((await requestH2(session, { ':path': '/metrics' })).body);
      expect(metrics.get('ssehub_connections_open')).toBe(1);
      expect(metrics.get('ssehub_subscriptions_open')).toBe(8);

      // Resume over HTTP/2 replays what came after the given id.
      const first = streams[0]!.events[0]!.lastEventId;
      const resumed = subscribeH2(session, topics[0]!, first);
      await resumed.waitFor(2);
      expect(resumed.events.map((e) => e.data)).toEqual(streams[0]!.events.slice(1).map((e) => e.data));

      // Errors are one-line answers over HTTP/2 too.
      const bad = await requestH2(session, { ':path': HUB_PATH });
      expect(bad.status).toBe(400);
      expect(bad.body).toBe('Missing "topic" parameter.\n');
    } finally {
      session.close();
    }
  });

  test('a cancelled stream frees its subscription; a stream that does not read is cut alone', async () => {
    const own = createHubServer({
      config: { port: 0, demo: false, tlsCert: files!.cert, tlsKey: files!.key, maxBufferedBytes: 64 * 1024 },
    });
    const ownUrl = await own.listen();
    const session = connect(ownUrl, { ca });
    session.on('error', () => undefined);
    const scrape = async () => parseMetrics((await requestH2(session, { ':path': '/metrics' })).body);
    try {
      const keep = subscribeH2(session, 'urn:keep');
      const cancelled = session.request({ ':path': `${HUB_PATH}?topic=urn:cancel` });
      cancelled.on('error', () => undefined);
      await keep.headers;
      await new Promise((resolve) => cancelled.once('response', resolve));
      expect((await scrape()).get('ssehub_subscriptions_open')).toBe(2);
      cancelled.close();
      const deadline = Date.now() + 5000;
      while ((await scrape()).get('ssehub_disconnects_total{reason="client"}') !== 1) {
        if (Date.now() > deadline) throw new Error('the cancelled stream was not released');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect((await scrape()).get('ssehub_subscriptions_open')).toBe(1);

      // A stream whose reader stops is cut when its backlog passes the limit; the others go on.
      const stalled = session.request({ ':path': `${HUB_PATH}?topic=urn:slow` });
      stalled.on('error', () => undefined);
      await new Promise((resolve) => stalled.once('response', resolve));
      stalled.pause();
      const chunk = 'z'.repeat(16 * 1024);
      for (let i = 0; i < 500; i++) {
        expect((await publishH2(session, 'urn:slow', chunk)).status).toBe(200);
        if ((await scrape()).get('ssehub_disconnects_total{reason="slow"}') === 1) break;
      }
      expect((await scrape()).get('ssehub_disconnects_total{reason="slow"}')).toBe(1);
      expect((await publishH2(session, 'urn:keep', 'still here')).status).toBe(200);
      await keep.waitFor(1);
      expect(keep.events.map((e) => e.data)).toEqual(['still here']);
    } finally {
      session.close();
      await own.close(1000);
    }
  });

  test('a publish reset mid-body stores nothing; a too-large one is refused without HTTP/1 headers', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
    process.on('warning', onWarning);
    const own = createHubServer({
      config: { port: 0, demo: false, tlsCert: files!.cert, tlsKey: files!.key, maxBodyBytes: 1024 },
    });
    const ownUrl = await own.listen();
    const session = connect(ownUrl, { ca });
    session.on('error', () => undefined);
    const published = async () =>
      parseMetrics((await requestH2(session, { ':path': '/metrics' })).body).get(
        'ssehub_events_published_total',
      );
    try {
      const subscriber = subscribeH2(session, 'urn:partial');
      await subscriber.headers;
      // Declared length, then RST_STREAM half-way (Node's client sends END_STREAM first: the
      // length mismatch gives it away).
      const reset = session.request({
        ':method': 'POST',
        ':path': HUB_PATH,
        'content-type': 'application/x-www-form-urlencoded',
        'content-length': '100',
      });
      reset.on('error', () => undefined);
      reset.write('topic=urn:partial&data=');
      await new Promise((resolve) => setTimeout(resolve, 50));
      reset.close(8);
      // No declared length, and the connection is lost half-way.
      const lost = connect(ownUrl, { ca });
      lost.on('error', () => undefined);
      const cut = lost.request({
        ':method': 'POST',
        ':path': HUB_PATH,
        'content-type': 'application/x-www-form-urlencoded',
      });
      cut.on('error', () => undefined);
      cut.write('topic=urn:partial&data=');
      await new Promise((resolve) => setTimeout(resolve, 50));
      lost.destroy();
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(await published()).toBe(0);
      expect(subscriber.events).toEqual([]);

      const tooLarge = await publishH2(session, 'urn:partial', 'x'.repeat(2000));
      expect(tooLarge.status).toBe(413);
      expect(tooLarge.body).toBe('Request body too large: at most 1024 bytes.\n');
      expect(tooLarge.headers.connection).toBeUndefined();
      expect(warnings).toEqual([]);
      expect((await publishH2(session, 'urn:partial', 'whole')).status).toBe(200);
      await subscriber.waitFor(1);
      expect(subscriber.events.map((e) => e.data)).toEqual(['whole']);
    } finally {
      process.off('warning', onWarning);
      session.close();
      await own.close(1000);
    }
  });

  test('shutdown is not held up past its deadline by a connection that never completes TLS', async () => {
    const own = createHubServer({
      config: { port: 0, demo: false, tlsCert: files!.cert, tlsKey: files!.key },
    });
    const ownUrl = await own.listen();
    const silent = netConnect(Number(new URL(ownUrl).port), '127.0.0.1');
    silent.on('error', () => undefined);
    await new Promise((resolve) => silent.once('connect', resolve));
    expect(own.status().connections).toBe(1);
    const started = Date.now();
    await own.close(500);
    expect(Date.now() - started).toBeLessThan(1500);
    silent.destroy();
  });

  test('HTTP/1.1 clients are still served on the TLS port', async () => {
    const answer = await new Promise<{ status: number; body: string; protocol: unknown }>(
      (resolve, reject) => {
        const req = httpsGet(`${url}/healthz`, { ca, agent: false }, (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              body,
              protocol: (res.socket as { alpnProtocol?: unknown }).alpnProtocol,
            }),
          );
        });
        req.on('error', reject);
      },
    );
    expect(answer).toEqual({ status: 200, body: 'ok: process alive\n', protocol: false });
  });

  test('shutdown ends every HTTP/2 stream cleanly after its queued events and sends GOAWAY', async () => {
    const own = createHubServer({
      config: { port: 0, demo: false, tlsCert: files!.cert, tlsKey: files!.key },
    });
    const ownUrl = await own.listen();
    const session = connect(ownUrl, { ca });
    session.on('error', () => undefined);
    const goaway = new Promise<void>((resolve) => session.once('goaway', () => resolve()));
    const streams = [0, 1, 2].map((i) => subscribeH2(session, `urn:bye:${i}`));
    for (const stream of streams) expect((await stream.headers)[':status']).toBe(200);
    for (const i of [0, 1, 2])
      expect((await publishH2(session, `urn:bye:${i}`, 'last words')).status).toBe(200);
    await own.close(3000);
    await goaway;
    for (const stream of streams) {
      await stream.ended;
      expect(stream.events.map((e) => e.data)).toEqual(['last words']);
    }
    session.close();
  });
});
