/**
 * The project's client against a real hub limiting new streams (--max-stream-opens-per-second):
 * refused with 503 and a Retry-After, it waits at least that long plus its own jitter, does not
 * give up, and then streams. The hub runs on real time; the client's timers on a fake clock.
 */
import { afterEach, expect, it } from 'vitest';
import { createClient } from '../../../src/client/index.js';
import type { ClientEvent, SseClient, StateChange } from '../../../src/client/index.js';
import { FakeClock } from '../../helpers/fake-clock.js';
import { until } from '../../helpers/fixture-server.js';
import { delay, openStream, publish, startTestHub, topicUrl } from '../../helpers/hub.js';
import type { RawStream, TestHub } from '../../helpers/hub.js';
import { parseMetrics } from '../../helpers/metrics.js';

const TOPIC = 'https://example.com/admitted';
let hub: TestHub | undefined;
let client: SseClient | undefined;
let holder: RawStream | undefined;

afterEach(async () => {
  client?.close();
  holder?.destroy();
  await hub?.close(1000);
});

/** Streams opened and opens refused by the rate, as the hub counts them. */
async function opens(target: TestHub): Promise<{ opened: number; refused: number }> {
  const metrics = parseMetrics(await target.metrics.render());
  return {
    opened: metrics.get('ssehub_subscriptions_total') ?? 0,
    refused: metrics.get('ssehub_streams_refused_total{refusal="rate"}') ?? 0,
  };
}

it("the client refused by the hub's open rate waits out Retry-After plus its jitter, then streams", async () => {
  // One open a second: the client's first attempt, right after the holder's, finds the bucket empty.
  hub = await startTestHub({ config: { demo: false, maxStreamOpensPerSecond: 1, streamOpenBurst: 1 } });
  const target = hub;
  holder = await openStream(topicUrl(target.hubUrl, [TOPIC])); // takes the bucket's one token
  const clock = new FakeClock();
  const states: StateChange[] = [];
  const events: ClientEvent[] = [];
  client = createClient(target.hubUrl, {
    topics: [TOPIC],
    clock,
    random: () => 0.25,
    onlineEvents: null,
    heartbeatTimeout: 0,
    backoff: { initial: 100, jitter: 0.5 },
  });
  client.onState((change) => states.push(change));
  client.on('message', (event) => events.push(event));

  await until(() => states.some((change) => change.state === 'retrying'), 'the refusal');
  const retrying = states.find((change) => change.state === 'retrying');
  expect(retrying).toMatchObject({
    attempt: 1,
    reason: { code: 'server-error', status: 503, message: expect.stringMatching(/Too many new streams/) },
  });
  const wait = (retrying as { delay: number }).delay;
  // Retry-After is whole seconds (1 or 2 here), and the client adds a quarter of its one-second spread.
  expect([1250, 2250]).toContain(wait);
  expect(await opens(target)).toEqual({ opened: 1, refused: 1 });

  await clock.advance(wait - 1);
  await delay(1100); // real time: the hub's bucket refills meanwhile
  expect(await opens(target), 'no attempt before the Retry-After').toEqual({ opened: 1, refused: 1 });
  await clock.advance(1);
  await until(() => client!.state === 'open', 'the stream after waiting');
  expect(await opens(target)).toEqual({ opened: 2, refused: 1 });
  expect((await publish(target.hubUrl, { topic: TOPIC, data: 'admitted' })).status).toBe(200);
  await until(() => events.length === 1, 'the event');
  expect(events.map((event) => event.data)).toEqual(['admitted']);
  expect(states.some((change) => change.state === 'closed')).toBe(false);
});
