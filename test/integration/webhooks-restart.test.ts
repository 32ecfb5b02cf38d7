import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { TempDirs } from '../helpers/data-dir.js';
import { HubProcess } from '../helpers/hub-process.js';
import { openStream, publish } from '../helpers/hub.js';
import { scrape } from '../helpers/metrics.js';
import { RedisServer, redisAvailable } from '../helpers/redis.js';
import { eventually } from '../helpers/wait.js';
import { WebhookReceiver, bodyOf, newSecret, verifyWebhook } from '../helpers/webhook-receiver.js';

/**
 * The webhook queue lives in the store: messages pending when the hub process dies (SIGKILL) are
 * delivered by its next life (SQLite, the data directory) or by any hub on the same Redis, every
 * one of them once, in order per topic. Real hub processes, a real receiver on loopback.
 */
const TOPICS = ['https://example.com/a', 'https://example.com/b'];
const dirs = new TempDirs();
const running: (HubProcess | WebhookReceiver)[] = [];
afterAll(() => dirs.removeAll());
afterEach(async () => {
  for (const part of running.splice(0))
    await (part instanceof HubProcess ? part.kill('SIGKILL') : part.stop());
});

function configFile(
  receiverUrl: string,
  secret: string,
  extra: Record<string, unknown> = {},
  events = ['update.published'],
): string {
  const file = join(dirs.make('webhook-config'), 'hub.json');
  writeFileSync(
    file,
    JSON.stringify({
      webhooks: {
        endpoints: [{ url: receiverUrl, secret, events, name: 'backend' }],
        retryBaseMs: 50,
        retryMaxMs: 300,
        ...extra,
      },
    }),
  );
  return file;
}

async function startHub(args: string[]): Promise<HubProcess> {
  const hub = await HubProcess.start(args);
  running.push(hub);
  return hub;
}

/** Publishes `count` updates alternating between the topics, through the hubs in turn. */
async function publishAll(hubs: HubProcess[], count: number): Promise<void> {
  for (let n = 0; n < count; n++) {
    const hub = hubs[n % hubs.length] as HubProcess;
    const answer = await publish(hub.hubUrl, { topic: TOPICS[n % 2] as string, data: String(n) });
    expect(answer.status).toBe(200);
  }
}

async function failedAttempts(hub: HubProcess): Promise<number> {
  return (await scrape(hub.url)).get('ssehub_webhook_attempts_failed_total{endpoint="backend"}') ?? 0;
}

/** Every update delivered once (one 2xx per idempotency key), each topic's in publish order, all signed. */
function expectEveryUpdateOnceInOrder(target: WebhookReceiver, secret: string, count: number): void {
  const delivered = target.delivered;
  const ids = delivered.map((request) => request.headers['webhook-id']);
  expect(new Set(ids).size).toBe(delivered.length);
  const numbers = delivered.map((request) => Number(bodyOf(request).data.data));
  expect([...numbers].sort((a, b) => a - b)).toEqual(Array.from({ length: count }, (_, n) => n));
  for (const [index, topic] of TOPICS.entries()) {
    const line = delivered
      .filter((request) => (bodyOf(request).data.topics as string[])[0] === topic)
      .map((request) => Number(bodyOf(request).data.data));
    expect(line).toEqual(numbers.filter((n) => n % 2 === index).sort((a, b) => a - b));
  }
  for (const request of target.requests)
    expect(verifyWebhook(secret, request.headers, request.body)).toBeUndefined();
}

describe('webhooks survive a hub restart while pending', () => {
  test('SQLite: killed while its receiver is down, the next life delivers all, once, in order', async () => {
    const target = await WebhookReceiver.start();
    running.push(target);
    await target.stop();
    const secret = newSecret();
    const dataDir = dirs.make('webhook-data');
    const hub = await startHub([
      '--store',
      'sqlite',
      '--data-dir',
      dataDir,
      '--config',
      configFile(target.url, secret),
    ]);
    await publishAll([hub], 20);
    await eventually(async () => (await failedAttempts(hub)) >= 2, 10_000, 'refused attempts');
    await hub.kill('SIGKILL');

    await target.listen();
    await hub.restart();
    await eventually(() => target.delivered.length >= 20, 20_000, 'all 20 delivered after the restart');
    expect(target.delivered).toHaveLength(20);
    expectEveryUpdateOnceInOrder(target, secret, 20);
  });
});

describe.runIf(redisAvailable('webhooks on Redis'))('webhooks on Redis, two hubs', () => {
  test(
    'each update queued once by two hubs; a dead hub’s claim is taken over after its lease; all delivered, in order',
    { timeout: 90_000 },
    async () => {
      const redis = await RedisServer.start();
      try {
        const target = await WebhookReceiver.start();
        running.push(target);
        target.answer = () => 'hang';
        const secret = newSecret();
        // Requests time out after 2 s: a claim's lease is 7 s, so a hub killed mid-request holds it that long.
        const config = configFile(target.url, secret, { timeoutMs: 2000 });
        const args = ['--redis', redis.url, '--redis-prefix', `webhooks-${process.pid}`, '--config', config];
        const hubA = await startHub(args);
        const hubB = await startHub(args);
        await publishAll([hubA, hubB], 20);
        // Each topic's first update is being sent (to a receiver that hangs), the rest wait behind it.
        await eventually(() => target.requests.length === 2, 10_000, 'two hung requests');
        await Promise.all([hubA.kill('SIGKILL'), hubB.kill('SIGKILL')]);

        target.answer = () => ({ status: 200 });
        await hubA.restart();
        await eventually(
          () => target.delivered.length >= 20,
          30_000,
          'all 20 delivered by the restarted hub',
        );
        // The dead hubs' claims held until their lease (7 s from the claim) lapsed: never two senders at once.
        expect(target.delivered[0]!.at - target.requests[0]!.at).toBeGreaterThanOrEqual(6000);
        expect(target.delivered).toHaveLength(20);
        expectEveryUpdateOnceInOrder(target, secret, 20);
        // The two hung requests were the first of their topics and came back with the same keys.
        const hungIds = target.requests.slice(0, 2).map((request) => request.headers['webhook-id']);
        const firsts = TOPICS.map(
          (topic) =>
            target.delivered.find((request) => (bodyOf(request).data.topics as string[])[0] === topic)
              ?.headers['webhook-id'],
        );
        expect(new Set(hungIds)).toEqual(new Set(firsts));
      } finally {
        await redis.destroy();
      }
    },
  );

  test('a presence change seen by both hubs is sent once, by the hub whose subscriber caused it', async () => {
    const redis = await RedisServer.start();
    try {
      const target = await WebhookReceiver.start();
      running.push(target);
      const secret = newSecret();
      const config = configFile(target.url, secret, {}, [
        'topic.occupied',
        'topic.vacant',
        'subscription.active',
      ]);
      const args = [
        ...['--redis', redis.url, '--redis-prefix', `presence-webhooks-${process.pid}`, '--config', config],
        ...['--subscriptions', '--presence-grace-ms', '0'],
      ];
      const hubA = await startHub(args);
      const hubB = await startHub(args);
      const onA = await openStream(`${hubA.hubUrl}?topic=${encodeURIComponent(TOPICS[0] as string)}`);
      await eventually(() => target.delivered.length === 2, 10_000, 'occupied and active');
      onA.destroy();
      await eventually(() => target.delivered.length === 3, 10_000, 'vacant');
      // Hub B opened nothing; it heard every change too, and sent none of them.
      const onB = await openStream(`${hubB.hubUrl}?topic=${encodeURIComponent(TOPICS[1] as string)}`);
      await eventually(() => target.delivered.length === 5, 10_000, 'occupied and active on B');
      onB.destroy();
      await eventually(() => target.delivered.length === 6, 10_000, 'vacant on B');
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(target.requests.map((request) => [bodyOf(request).type, bodyOf(request).data.topic])).toEqual([
        ['subscription.active', TOPICS[0]],
        ['topic.occupied', TOPICS[0]],
        ['topic.vacant', TOPICS[0]],
        ['subscription.active', TOPICS[1]],
        ['topic.occupied', TOPICS[1]],
        ['topic.vacant', TOPICS[1]],
      ]);
      for (const request of target.requests)
        expect(verifyWebhook(secret, request.headers, request.body)).toBeUndefined();
    } finally {
      await redis.destroy();
    }
  });
});
