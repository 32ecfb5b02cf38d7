import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../src/store/redis.js';
import { SqliteStore } from '../../src/store/sqlite/index.js';
import type { Store } from '../../src/store/types.js';
import { delay, publish, startTestHub } from '../helpers/hub.js';
import type { TestHub } from '../helpers/hub.js';
import { TempDirs } from '../helpers/data-dir.js';
import { RawSubscriber } from '../helpers/raw-subscriber.js';
import { RedisServer, redisAvailable } from '../helpers/redis.js';
import { eventually } from '../helpers/wait.js';

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

/** Opens `count` subscribers, `lanes` at a time (the storm itself is the reconnect, not this). */
async function subscribeAll(test: TestHub, count: number, lanes = 50): Promise<RawSubscriber[]> {
  const port = Number(new URL(test.hubUrl).port);
  const subscribers = Array.from({ length: count }, () => new RawSubscriber(port, TOPIC));
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < subscribers.length) await (subscribers[next++] as RawSubscriber).start();
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
  await eventually(
    () => subscribers.every((subscriber) => subscriber.events.length === CUT_AFTER),
    20_000,
    'every subscriber at the cut point',
  );

  for (const subscriber of subscribers) subscriber.drop();
  // Events nobody is connected for: only replay can deliver these.
  for (let i = 0; i < WHILE_DOWN; i++) await publishEvent(test, published++);
  // Every subscriber reconnects at once while publishing resumes.
  const reconnecting = Promise.all(subscribers.map((subscriber) => subscriber.resume()));
  resumeAfterCut?.();
  await Promise.all([reconnecting, publishing]);

  // On a timeout the check below says what is missing, rather than only that something is.
  await eventually(
    () => subscribers.every((subscriber) => subscriber.events.length >= TOTAL),
    20_000,
    'every subscriber to have every event',
  ).catch(() => undefined);
  // Anything extra (a duplicate) would arrive right behind the last event: give it a moment.
  await delay(200);
  const expected = Array.from({ length: TOTAL }, (_, i) => `e${i}`).join();
  const dataOf = (subscriber: RawSubscriber): string => subscriber.events.map((event) => event.data).join();
  const wrong = subscribers.filter((subscriber) => dataOf(subscriber) !== expected);
  expect({
    wrong: wrong.length,
    firstWrong: wrong[0] && dataOf(wrong[0]),
    resets: subscribers.flatMap((subscriber) => subscriber.resets),
  }).toEqual({ wrong: 0, firstWrong: undefined, resets: [] });
  for (const subscriber of subscribers) subscriber.stop();
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
