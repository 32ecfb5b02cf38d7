import { connect } from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
import { Hub } from '../../src/hub/hub.js';
import { MemoryStore } from '../../src/store/memory.js';
import { createFetchHandler } from '../../src/fetch/index.js';
import { delay, openStream, publish, startTestHub, topicUrl } from '../helpers/hub.js';
import type { TestHub } from '../helpers/hub.js';
import { scrape } from '../helpers/metrics.js';
import { bearer, HS_SECRET, hmacKey, mint, publisherClaims, subscriberClaims } from '../helpers/tokens.js';

/**
 * Issue 14, admission under a storm: `--max-stream-opens-per-second` refuses new streams past its
 * rate with 503 and a jittered Retry-After, before anything else is done for them, and the
 * subscribers already streaming keep receiving everything. Only correctness is asserted.
 */
const TOPIC = 'https://example.com/admission';
const RATE = 20;
const BURST = 10;

let hub: TestHub | undefined;
afterEach(async () => {
  await hub?.close(1000);
  hub = undefined;
});

interface OpenAttempt {
  status: number;
  head: string;
  body: string;
}

/**
 * One stream open on a raw socket: its status, head and (for a refusal) body, as soon as the
 * answer is whole; the socket is then closed (a stream never ends, a refusal may be kept alive).
 */
function attemptOpen(
  target: TestHub,
  query: string,
  headers: Record<string, string> = {},
): Promise<OpenAttempt> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(new URL(target.url).port), '127.0.0.1');
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      const end = received.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = received.slice(0, end);
      const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(head)?.[1] ?? 0);
      const length = Number(headerOf(head, 'Content-Length') ?? 0);
      const body = received.slice(end + 4);
      if (status !== 200 && body.length < length) return;
      socket.destroy();
      resolve({ status, head, body });
    });
    socket.on('close', () => reject(new Error(`closed without a whole answer: ${JSON.stringify(received)}`)));
    socket.on('error', () => undefined);
    const extra = Object.entries(headers)
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('');
    socket.write(
      `GET /.well-known/mercure?${query} HTTP/1.1\r\nHost: hub.test\r\nAccept: text/event-stream\r\n${extra}\r\n`,
    );
  });
}

function headerOf(head: string, name: string): string | undefined {
  return new RegExp(`^${name}: (.*)$`, 'mi').exec(head)?.[1]?.trim();
}

const topicQuery = `topic=${encodeURIComponent(TOPIC)}`;

describe('--max-stream-opens-per-second', () => {
  test('a storm of opens is refused past the rate while a subscriber already streaming gets every event once, in order', async () => {
    hub = await startTestHub({
      config: { demo: false, jwtKey: HS_SECRET, maxStreamOpensPerSecond: RATE, streamOpenBurst: BURST },
    });
    const target = hub;
    const subscriberToken = await mint(hmacKey(), subscriberClaims([TOPIC]));
    const publisherToken = await mint(hmacKey(), publisherClaims(TOPIC));
    const started = performance.now();
    const caughtUp = await openStream(topicUrl(target.hubUrl, [TOPIC]), bearer(subscriberToken));
    expect(caughtUp.response.statusCode).toBe(200);

    const TOTAL = 100;
    const publishing = (async () => {
      for (let i = 0; i < TOTAL; i++) {
        const answer = await publish(target.hubUrl, { topic: TOPIC, data: `e${i}` }, bearer(publisherToken));
        if (answer.status !== 200) throw new Error(`publish ${i}: ${answer.status} ${answer.body}`);
        if (i % 10 === 9) await delay(20);
      }
    })();
    // Three waves of 150 opens at once, while publishing goes on.
    const attempts: OpenAttempt[] = [];
    for (let wave = 0; wave < 3; wave++) {
      const opens = Array.from({ length: 150 }, () =>
        attemptOpen(target, topicQuery, bearer(subscriberToken)),
      );
      attempts.push(...(await Promise.all(opens)));
    }
    await publishing;
    const elapsedSeconds = (performance.now() - started) / 1000;

    await caughtUp.waitFor(() => caughtUp.events.length >= TOTAL, 10_000, 'every event');
    await delay(50);
    expect(caughtUp.events.map((event) => event.data)).toEqual(
      Array.from({ length: TOTAL }, (_, i) => `e${i}`),
    );

    const refused = attempts.filter((attempt) => attempt.status === 503);
    const admitted = attempts.filter((attempt) => attempt.status === 200);
    expect(refused.length + admitted.length, 'every attempt answered 200 or 503').toBe(attempts.length);
    expect(refused.length).toBeGreaterThan(0);
    // The bucket's bound: the burst, plus what refilled while the test ran (one open was the subscriber's).
    expect(admitted.length + 1).toBeLessThanOrEqual(BURST + Math.ceil(RATE * elapsedSeconds) + 1);
    const waits = refused.map((attempt) => Number(headerOf(attempt.head, 'Retry-After')));
    for (const [index, attempt] of refused.entries()) {
      expect(waits[index]).toBeGreaterThanOrEqual(1);
      expect(waits[index]).toBeLessThanOrEqual(30);
      expect(headerOf(attempt.head, 'Connection')).toBe('close');
      expect(attempt.body).toMatch(
        /^Too many new streams: the hub opens at most 20 a second; retry in \d+ s\.\n$/,
      );
    }
    // Spread out: the refused are not all sent back on the same second.
    expect(new Set(waits).size).toBeGreaterThan(3);
    const metrics = await scrape(target.url);
    expect(metrics.get('ssehub_streams_refused_total{refusal="rate"}')).toBe(refused.length);
    caughtUp.destroy();
  });

  test('a refusal comes before the token is verified and the request is parsed: 503, not 401 or 400', async () => {
    hub = await startTestHub({
      config: { demo: false, jwtKey: HS_SECRET, maxStreamOpensPerSecond: 1, streamOpenBurst: 1 },
    });
    const target = hub;
    const first = await attemptOpen(target, topicQuery, bearer('not.a.token'));
    expect(first.status, 'the one token in the bucket: then the token is checked').toBe(401);
    // A bad token, no topic, a malformed rewind: a 503 for any of them shows that the limit came
    // first. Three of each, so one token refilled on a slow machine cannot hide it.
    const kinds = [
      { query: topicQuery, headers: bearer('not.a.token') },
      { query: 'nothing=here', headers: {} },
      { query: `${topicQuery}&rewind=many`, headers: {} },
    ];
    const answers = await Promise.all(
      kinds.map((kind) => Promise.all([1, 2, 3].map(() => attemptOpen(target, kind.query, kind.headers)))),
    );
    for (const [index, attempts] of answers.entries()) {
      expect(
        attempts.map((attempt) => attempt.status),
        kinds[index]!.query,
      ).toContain(503);
    }
    // Publishing and everything else are not limited by it.
    const publisherToken = await mint(hmacKey(), publisherClaims(TOPIC));
    const answer = await publish(target.hubUrl, { topic: TOPIC, data: 'x' }, bearer(publisherToken));
    expect(answer.status).toBe(200);
  });

  test('off by default: a burst of opens is admitted', async () => {
    hub = await startTestHub({ config: { demo: false } });
    const target = hub;
    const attempts = await Promise.all(Array.from({ length: 50 }, () => attemptOpen(target, topicQuery)));
    expect(attempts.every((attempt) => attempt.status === 200)).toBe(true);
    const metrics = await scrape(target.url);
    expect(metrics.get('ssehub_streams_refused_total{refusal="rate"}')).toBe(0);
  });

  test('the Fetch handler has the same limit, and counts its refusals through onStreamRefused', async () => {
    const library = new Hub({ store: new MemoryStore() });
    const refusals: string[] = [];
    const handler = createFetchHandler(library, {
      maxStreamOpensPerSecond: 1,
      streamOpenBurst: 2,
      onStreamRefused: (refusal) => refusals.push(refusal),
    });
    const controller = new AbortController();
    const request = () =>
      handler(
        new Request(`http://hub.test/.well-known/mercure?${topicQuery}`, { signal: controller.signal }),
      );
    const answers = [await request(), await request(), await request()];
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 503]);
    const refused = answers[2]!;
    expect(Number(refused.headers.get('Retry-After'))).toBeGreaterThanOrEqual(1);
    // A Fetch response may not set Connection: the server running the handler decides.
    expect(refused.headers.get('Connection')).toBeNull();
    expect(await refused.text()).toMatch(/^Too many new streams: /);
    expect(refusals).toEqual(['rate']);
    controller.abort();
    for (const answer of answers.slice(0, 2)) await answer.body?.cancel();
    await library.close();
  });
});
