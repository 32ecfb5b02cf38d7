import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { TempDirs } from '../helpers/data-dir.js';
import { HubProcess } from '../helpers/hub-process.js';
import { RawSubscriber } from '../helpers/raw-subscriber.js';
import { publishUntilAccepted } from '../helpers/resilient-publisher.js';

/**
 * A deploy of a single hub on the default (sqlite) store: 500 subscribers are connected, the hub is
 * stopped with SIGTERM and started again while a publisher keeps publishing (retrying on a refused
 * connection or a 503). Every subscriber must end with every event of its topic exactly once, in
 * order, and without a reset. The 10,000-subscriber version with its figures is in `npm run bench`.
 */

const dirs = new TempDirs();
let hub: HubProcess | undefined;
const subscribers: RawSubscriber[] = [];
afterEach(async () => {
  for (const subscriber of subscribers.splice(0)) subscriber.stop();
  await hub?.kill('SIGKILL');
});
afterAll(() => dirs.removeAll());

const SUBSCRIBERS = 500;
const TOPICS = 10;
const topicOf = (n: number) => `urn:storm:${n % TOPICS}`;

describe('deploy storm on the sqlite store', () => {
  it(`${SUBSCRIBERS} subscribers get every event once, in order, across a SIGTERM and restart`, async () => {
    const dataDir = dirs.make('storm');
    hub = await HubProcess.start([
      ...['--store', 'sqlite', '--data-dir', dataDir],
      ...['--publish-rate', '0', '--max-connections-per-subject', '0', '--shutdown-timeout-ms', '5000'],
    ]);
    const port = hub.port;
    for (let n = 0; n < SUBSCRIBERS; n++) subscribers.push(new RawSubscriber(port, topicOf(n)));
    await Promise.all(subscribers.map((subscriber) => subscriber.start()));

    // The publisher: events e0, e1, … round-robin over the topics, each retried until accepted. A
    // connection that breaks after the request was sent (one the closing hub had not yet accepted
    // is reset) leaves the outcome unknown: that event may arrive, at most once.
    const published: { topic: string; data: string; id: string }[] = [];
    const unknown = new Set<string>();
    let publishing = true;
    const publisher = (async () => {
      for (let n = 0; publishing; n++) {
        const topic = topicOf(n);
        const id = await publishUntilAccepted(port, topic, `e${n}`);
        if (id === undefined) unknown.add(`e${n}`);
        else published.push({ topic, data: `e${n}`, id });
      }
    })();

    const waitForPublished = async (count: number) => {
      while (published.length < count) await new Promise((resolve) => setTimeout(resolve, 20));
    };
    await waitForPublished(100);
    await hub.kill('SIGTERM'); // the publisher keeps retrying meanwhile
    await hub.restart();
    const restartedAt = published.length;
    await waitForPublished(restartedAt + 100);
    publishing = false;
    await publisher;

    const expected = new Map<string, string[]>();
    for (const { topic, data } of published) expected.set(topic, [...(expected.get(topic) ?? []), data]);
    await Promise.all(
      subscribers.map((subscriber, n) => {
        const want = expected.get(topicOf(n)) ?? [];
        const known = (events: readonly { data: string }[]) => events.filter((e) => !unknown.has(e.data));
        return subscriber.waitFor((events) => known(events).length >= want.length, 60_000);
      }),
    );
    for (const [n, subscriber] of subscribers.entries()) {
      expect(subscriber.resets, `subscriber ${n}`).toEqual([]);
      const received = subscriber.events.map((e) => e.data);
      expect(new Set(received).size, `subscriber ${n} got a duplicate`).toBe(received.length);
      const known = received.filter((data) => !unknown.has(data));
      expect(known, `subscriber ${n}`).toEqual(expected.get(topicOf(n)));
      expect(subscriber.connections, `subscriber ${n} reconnected`).toBeGreaterThanOrEqual(2);
    }
  }, 180_000);
});
