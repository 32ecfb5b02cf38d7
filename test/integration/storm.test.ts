import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SseResponseParser, subscribeRequest } from '../../bench/sse-wire.js';
import { RedisStore } from '../../src/store/redis.js';
import { SqliteStore } from '../../src/store/sqlite/index.js';
import type { Store } from '../../src/store/types.js';
import { delay, publish, startTestHub } from '../helpers/hub.js';
import type { TestHub } from '../helpers/hub.js';
import { TempDirs } from '../helpers/data-dir.js';
import { RedisServer, redisAvailable } from '../helpers/redis.js';

/**
 * A reconnect storm (issue 14): every subscriber's socket is reset at the same instant while
 * events keep being published, and each reconnects at once with the Last-Event-ID it last saw.
 * Whatever the store, every subscriber must end with every event exactly once and in order.
 * Only correctness is asserted; how fast a storm settles is the bench's business
 * (`npm run bench -- --workload=storm`).
 */

const SUBSCRIBERS = 500;
const TOTAL = 200;
/** Subscribers are cut once each of them has this many events. */
const CUT_AFTER = 40;
/** Published while every socket is down, before anyone reconnects: they can only come from replay. */
const WHILE_DOWN = 10;
const TOPIC = 'urn:storm';

/** One raw-socket subscriber: every event data it has received, across its connections. */
class StormSubscriber {
  readonly received: string[] = [];
  lastEventId = '';
  socket: net.Socket | undefined;
  refusals = 0;

  constructor(
    private readonly port: number,
    private readonly path: string,
  ) {}

  /** Connects (with Last-Event-ID once it has one); retries a refusal after its Retry-After. */
  async connect(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const status = await this.open();
      if (status === 200) return;
      this.refusals++;
      if (attempt >= 20) throw new Error(`subscriber refused ${attempt} times, last: ${status}`);
      await delay(200 + Math.random() * 300);
    }
  }

  /** Resets the connection, as a load balancer dropping it would. */
  cut(): void {
    const socket = this.socket;
    this.socket = undefined;
    socket?.removeAllListeners('close');
    socket?.on('error', () => undefined);
    socket?.resetAndDestroy();
  }

  private open(): Promise<number | string> {
    return new Promise((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port: this.port });
      const parser = new SseResponseParser({
        onHead: (status) => {
          if (status === 200) this.socket = socket;
          else socket.destroy();
          resolve(status);
        },
        onEvent: (id, data) => {
          this.lastEventId = id;
          this.received.push(data);
        },
      });
      const headers: Record<string, string> = this.lastEventId ? { 'Last-Event-ID': this.lastEventId } : {};
      socket.setEncoding('latin1');
      socket.on('connect', () =>
        socket.write(subscribeRequest(this.path, `127.0.0.1:${this.port}`, headers)),
      );
      socket.on('data', (text: string) => parser.push(text));
      socket.on('error', (error) => resolve(error.message));
      socket.on('close', () => resolve('closed before the response head'));
    });
  }
}

async function until(what: string, predicate: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(20);
  }
}

/** Opens `count` subscribers, `lanes` at a time (the storm itself is the reconnect, not this). */
async function subscribeAll(test: TestHub, count: number, lanes = 50): Promise<StormSubscriber[]> {
  const url = new URL(test.hubUrl);
  const path = `${url.pathname}?topic=${encodeURIComponent(TOPIC)}`;
  const subscribers = Array.from({ length: count }, () => new StormSubscriber(Number(url.port), path));
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < subscribers.length) await (subscribers[next++] as StormSubscriber).connect();
  };
  await Promise.all(Array.from({ length: lanes }, lane));
  return subscribers;
}

async function publishEvent(test: TestHub, index: number): Promise<void> {
  const answer = await publish(test.hubUrl, { topic: TOPIC, data: `e${index}` });
  if (answer.status !== 200) throw new Error(`publish ${index} answered ${answer.status}: ${answer.body}`);
}

/**
 * Runs the storm against `test` and checks every subscriber: all TOTAL events, once each, in order.
 */
async function stormChecksOut(test: TestHub): Promise<void> {
  const subscribers = await subscribeAll(test, SUBSCRIBERS);
  let published = 0;
  let pausedForCut: (() => void) | undefined;
  let resumeAfterCut: (() => void) | undefined;
  const publishing = (async () => {
    while (published < TOTAL) {
      if (published === CUT_AFTER) {
        // Hold here until the cut: the subscribers must be mid-stream when it happens.
        await new Promise<void>((resume) => {
          resumeAfterCut = resume;
          pausedForCut?.();
        });
      }
      await publishEvent(test, published++);
      // A short pause now and then keeps publishing going for the whole reconnect.
      if (published % 10 === 0) await delay(5);
    }
  })();
  await new Promise<void>((paused) => (pausedForCut = paused));
  await until('every subscriber at the cut point', () =>
    subscribers.every((subscriber) => subscriber.received.length === CUT_AFTER),
  );

  for (const subscriber of subscribers) subscriber.cut();
  // Events nobody is connected for: only replay can deliver these.
  for (let i = 0; i < WHILE_DOWN; i++) await publishEvent(test, published++);
  // Every subscriber reconnects at once while publishing resumes.
  const reconnecting = Promise.all(subscribers.map((subscriber) => subscriber.connect()));
  resumeAfterCut?.();
  await Promise.all([reconnecting, publishing]);

  // On a timeout the check below says what is missing, rather than only that something is.
  await until('every subscriber to have every event', () =>
    subscribers.every((subscriber) => subscriber.received.length >= TOTAL),
  ).catch(() => undefined);
  // Anything extra (a duplicate) would arrive right behind the last event: give it a moment.
  await delay(200);
  const expected = Array.from({ length: TOTAL }, (_, i) => `e${i}`).join();
  const wrong = subscribers.filter((subscriber) => subscriber.received.join() !== expected);
  expect({ wrong: wrong.length, firstWrong: wrong[0]?.received.join() }).toEqual({
    wrong: 0,
    firstWrong: undefined,
  });
  for (const subscriber of subscribers) subscriber.cut();
}

describe('reconnect storm: 500 subscribers cut at once, reconnecting with Last-Event-ID during publishing', () => {
  let hub: TestHub | undefined;
  afterEach(async () => {
    await hub?.close();
    hub = undefined;
  });

  it('memory store: every subscriber ends with every event exactly once, in order', async () => {
    hub = await startTestHub();
    await stormChecksOut(hub);
  }, 60_000);

  it('sqlite store: every subscriber ends with every event exactly once, in order', async () => {
    const dirs = new TempDirs();
    try {
      hub = await startTestHub({ store: SqliteStore.open({ dataDir: dirs.make('storm') }) });
      await stormChecksOut(hub);
      await hub.close();
      hub = undefined;
    } finally {
      dirs.removeAll();
    }
  }, 60_000);

  describe.runIf(redisAvailable('reconnect storm on Redis'))('Redis store', () => {
    let redis: RedisServer;
    beforeAll(async () => {
      redis = await RedisServer.start();
    });
    afterAll(async () => {
      await redis?.destroy();
    });

    it('every subscriber ends with every event exactly once, in order', async () => {
      const store: Store = await RedisStore.connect({ url: redis.url, prefix: `storm-${process.pid}` });
      hub = await startTestHub({ store });
      await stormChecksOut(hub);
    }, 60_000);
  });
});
