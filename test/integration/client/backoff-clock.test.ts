/**
 * Backoff and watchdog timing, driven by a fake clock injected into the client (no sleeping): the
 * HTTP traffic is real (a loopback fixture server), only the client's timers are hand-driven.
 */
import type { ServerResponse } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backoffPolicy, retryDelay } from '../../../src/client/backoff.js';
import { createClient } from '../../../src/client/index.js';
import type { ClientOptions, SseClient, StateChange } from '../../../src/client/index.js';
import { FakeClock, settle } from '../../helpers/fake-clock.js';
import { FixtureServer, openStream, until } from '../../helpers/fixture-server.js';

describe('retryDelay', () => {
  const noJitter = backoffPolicy({ jitter: 0 });

  it('doubles from 1 s and caps at 30 s by default', () => {
    const delays = [1, 2, 3, 4, 5, 6, 7, 8].map((attempt) =>
      retryDelay(noJitter, attempt, undefined, () => 0),
    );
    expect(delays).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
  });

  it('starts from the server retry when there is one', () => {
    expect([1, 2, 3].map((attempt) => retryDelay(noJitter, attempt, 3000, () => 0))).toEqual([
      3000, 6000, 12_000,
    ]);
  });

  it('a server retry above the cap is still honoured, and not grown', () => {
    expect([1, 2].map((attempt) => retryDelay(noJitter, attempt, 60_000, () => 0))).toEqual([60_000, 60_000]);
  });

  it('never returns more than a timer can hold (a longer setTimeout fires at once)', () => {
    expect(retryDelay(noJitter, 1, 1e12, () => 0)).toBe(2 ** 31 - 1);
    expect(retryDelay(noJitter, 200, undefined, () => 0)).toBe(30_000);
    expect(
      retryDelay(backoffPolicy({ jitter: 0, max: Number.MAX_SAFE_INTEGER }), 80, undefined, () => 0),
    ).toBe(2 ** 31 - 1);
  });

  it('jitter takes off up to its fraction of the delay', () => {
    const policy = backoffPolicy({ jitter: 0.5 });
    expect(retryDelay(policy, 1, undefined, () => 0)).toBe(1000);
    expect(retryDelay(policy, 1, undefined, () => 0.5)).toBe(750);
    expect(retryDelay(policy, 1, undefined, () => 0.999_999)).toBe(500);
  });

  it('refuses nonsense settings with a clear message', () => {
    expect(() => backoffPolicy({ factor: 0.5 })).toThrow('backoff.factor must be ≥ 1');
    expect(() => backoffPolicy({ jitter: 2 })).toThrow('backoff.jitter must be between 0 and 1');
    expect(() => backoffPolicy({ initial: -1 })).toThrow('backoff.initial must be a number ≥ 0');
    expect(() => backoffPolicy({ max: Number.NaN })).toThrow('backoff.max must be a number ≥ 0');
  });
});

describe('client timing on a fake clock', () => {
  let fixture: FixtureServer;
  let clock: FakeClock;
  let subject: SseClient | undefined;
  let states: StateChange[];

  beforeEach(async () => {
    fixture = await FixtureServer.start();
    clock = new FakeClock();
    states = [];
  });

  afterEach(async () => {
    subject?.close();
    await fixture.close();
  });

  function start(options: ClientOptions): SseClient {
    subject = createClient(fixture.url, { clock, onlineEvents: null, ...options });
    subject.onState((change) => states.push(change));
    return subject;
  }

  const retries = () =>
    states.flatMap((change) =>
      change.state === 'retrying' ? [{ attempt: change.attempt, delay: change.delay }] : [],
    );

  /** Waits (real time) for the client to settle into its retry wait, then checks nothing else runs. */
  async function waitForRetry(count: number): Promise<void> {
    await until(() => retries().length === count, `retry #${count}`);
    await settle();
  }

  it('waits exactly the backoff delay before each new attempt, growing to the cap', async () => {
    fixture.serve((_req, res) => res.writeHead(503).end());
    start({ backoff: { initial: 1000, factor: 2, max: 8000, jitter: 0 }, heartbeatTimeout: 0 });
    const expected = [1000, 2000, 4000, 8000, 8000];
    await waitForRetry(1);
    for (const [index, delay] of expected.entries()) {
      const requestsBefore = fixture.requests.length;
      await clock.advance(delay - 1);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(fixture.requests.length, `no attempt before ${delay} ms`).toBe(requestsBefore);
      await clock.advance(1);
      await until(() => fixture.requests.length === requestsBefore + 1, `attempt after ${delay} ms`);
      if (index < expected.length - 1) await waitForRetry(index + 2);
    }
    expect(retries().slice(0, expected.length)).toEqual(
      expected.map((delay, i) => ({ attempt: i + 1, delay })),
    );
  });

  it('applies jitter from the injected random source', async () => {
    fixture.serve((_req, res) => res.writeHead(503).end());
    start({ backoff: { initial: 1000, jitter: 0.4 }, random: () => 0.25, heartbeatTimeout: 0 });
    await waitForRetry(1);
    expect(retries()[0]).toEqual({ attempt: 1, delay: 900 });
  });

  it('uses the server retry as the base and keeps growing from it', async () => {
    fixture.serve((_req, res, index) => {
      if (index > 0) return res.writeHead(503).end();
      openStream(res);
      res.end('retry: 7000\n\n');
    });
    start({ backoff: { initial: 1000, max: 30_000, jitter: 0 }, heartbeatTimeout: 0 });
    await waitForRetry(1);
    await clock.advance(7000);
    await waitForRetry(2);
    expect(retries()).toEqual([
      { attempt: 1, delay: 7000 },
      { attempt: 2, delay: 14_000 },
    ]);
  });

  it('a huge Retry-After or server retry waits the longest a timer allows, not zero', async () => {
    fixture.serve((_req, res, index) => {
      if (index === 0) return res.writeHead(503, { 'Retry-After': String(10 ** 10) }).end();
      openStream(res);
      res.end('retry: 99999999999999\n\n');
    });
    start({ backoff: { jitter: 0 }, heartbeatTimeout: 0 });
    await waitForRetry(1);
    await clock.advance(2 ** 31 - 1);
    await waitForRetry(2);
    expect(retries()).toEqual([
      { attempt: 1, delay: 2 ** 31 - 1 },
      { attempt: 2, delay: 2 ** 31 - 1 },
    ]);
    expect(fixture.requests).toHaveLength(2);
  });

  it('a Retry-After on 503 or 429 is waited in full plus up to a second of jitter, delta-seconds or HTTP-date', async () => {
    fixture.serve((_req, res, index) => {
      if (index === 0) return res.writeHead(503, { 'Retry-After': '7' }).end('busy');
      if (index === 1) return res.writeHead(429, { 'Retry-After': ' 4 ' }).end('slow down');
      const inFive = new Date(clock.now() + 5000).toUTCString();
      if (index === 2) return res.writeHead(503, { 'Retry-After': inFive }).end('busy');
      openStream(res);
      res.write(':\n');
    });
    start({ backoff: { initial: 1000, jitter: 0.5 }, random: () => 0.25, heartbeatTimeout: 0 });
    await waitForRetry(1);
    // 7 s, plus a quarter of the one-second spread; the backoff (875 ms) is shorter.
    const waits = [7250, 4250];
    for (const [index, wait] of waits.entries()) {
      await clock.advance(wait - 1);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(fixture.requests, `no attempt before ${wait} ms`).toHaveLength(index + 1);
      await clock.advance(1);
      await waitForRetry(index + 2);
    }
    expect(retries()).toEqual([
      { attempt: 1, delay: 7250 },
      { attempt: 2, delay: 4250 },
      // An HTTP-date has whole seconds too: up to a second less than the 5 s it was sent for.
      { attempt: 3, delay: expect.any(Number) },
    ]);
    const dated = retries()[2]!.delay;
    expect(dated).toBeGreaterThanOrEqual(4000 + 250);
    expect(dated).toBeLessThanOrEqual(5000 + 250);
    expect(states.some((change) => change.state === 'closed')).toBe(false);
    await clock.advance(dated);
    await until(() => subject!.state === 'open', 'the stream after three refusals');
  });

  it('with jitter 0, a Retry-After is waited exactly', async () => {
    fixture.serve((_req, res) => res.writeHead(503, { 'Retry-After': '3' }).end());
    start({ backoff: { initial: 100, jitter: 0 }, heartbeatTimeout: 0 });
    await waitForRetry(1);
    expect(retries()).toEqual([{ attempt: 1, delay: 3000 }]);
  });

  it('a Retry-After of 0 (retry now) adds no spread: the backoff alone decides', async () => {
    fixture.serve((_req, res) => res.writeHead(503, { 'Retry-After': '0' }).end());
    start({ backoff: { initial: 100, jitter: 0.5 }, random: () => 0.25, heartbeatTimeout: 0 });
    await waitForRetry(1);
    expect(retries()).toEqual([{ attempt: 1, delay: 88 }]);
  });

  it('resets the backoff after a connection that stayed open for healthyAfter', async () => {
    const streams: ServerResponse[] = [];
    fixture.serve((_req, res, index) => {
      if (index === 1 || index === 2) return res.writeHead(503).end();
      openStream(res);
      res.write(':\n');
      streams.push(res);
    });
    start({ backoff: { initial: 1000, jitter: 0, healthyAfter: 5000 }, heartbeatTimeout: 0 });
    await until(() => streams.length === 1 && subject!.state === 'open', 'first stream');
    streams[0]!.end(); // short-lived: not healthy
    await waitForRetry(1);
    await clock.advance(1000);
    await waitForRetry(2);
    await clock.advance(2000);
    await waitForRetry(3);
    await clock.advance(4000);
    await until(() => streams.length === 2 && subject!.state === 'open', 'second stream');
    await clock.advance(5000); // now it counts as healthy
    streams[1]!.end();
    await waitForRetry(4);
    expect(retries()).toEqual([
      { attempt: 1, delay: 1000 },
      { attempt: 2, delay: 2000 },
      { attempt: 3, delay: 4000 },
      { attempt: 1, delay: 1000 },
    ]);
    expect(subject!.reconnects).toBe(3);
  });

  it('the watchdog fires only after heartbeatTimeout without any byte, comments included', async () => {
    const streams: ServerResponse[] = [];
    fixture.serve((_req, res) => {
      openStream(res);
      streams.push(res);
    });
    start({ backoff: { initial: 1000, jitter: 0 }, heartbeatTimeout: 10_000 });
    await until(() => streams.length === 1 && subject!.state === 'open', 'open');
    await clock.advance(9000);
    let received = 0;
    subject!.on('message', () => received++);
    streams[0]!.write(':\n');
    await new Promise((resolve) => setTimeout(resolve, 30));
    await clock.advance(9000); // 18 s since open, but only 9 s since the comment
    expect(subject!.state).toBe('open');
    await clock.advance(1000);
    await waitForRetry(1);
    expect(states.at(-1)).toMatchObject({ state: 'retrying', reason: { code: 'heartbeat-timeout' } });
    expect(received).toBe(0);
  });
});
