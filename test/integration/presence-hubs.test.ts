import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PresenceEvent } from '../../src/hub/presence.js';
import { RedisStore } from '../../src/store/redis.js';
import { HubProcess } from '../helpers/hub-process.js';
import { delay, openStream, rawRequest, startTestHub } from '../helpers/hub.js';
import type { RawStream, TestHub } from '../helpers/hub.js';
import { scrape } from '../helpers/metrics.js';
import { RedisServer, redisAvailable } from '../helpers/redis.js';
import { HS_SECRET, bearer, hmacKey, mint } from '../helpers/tokens.js';
import { eventually } from '../helpers/wait.js';

/**
 * Presence across hubs on one Redis: hub A is a real process (so it can be SIGKILLed), hub B runs
 * in this process (so its presence events can be read). Each sees the other's subscriptions; a
 * client moving from A to B within the grace period causes no inactive/active flap; a killed hub's
 * subscriptions end after its lease; the room's occupancy is an event.
 */
const ROOM = 'https://example.com/rooms/1';
const SUBSCRIPTIONS = '/.well-known/mercure/subscriptions';
const LEASE_MS = 600;
const GRACE_MS = 500;
const key = hmacKey();

describe.runIf(redisAvailable('presence across hubs'))('presence across hubs sharing Redis', () => {
  let redis: RedisServer;
  let hubA: HubProcess;
  let hubB: TestHub;
  const streams: RawStream[] = [];

  beforeAll(async () => {
    redis = await RedisServer.start();
    const prefix = `presence-${process.pid}`;
    const presence = ['--presence-lease-ms', String(LEASE_MS), '--presence-grace-ms', String(GRACE_MS)];
    hubA = await HubProcess.start([
      ...['--redis', redis.url, '--redis-prefix', prefix, '--subscriptions', '--jwt-key', HS_SECRET],
      ...presence,
    ]);
    hubB = await startTestHub({
      store: await RedisStore.connect({ url: redis.url, prefix }),
      config: {
        redisUrl: redis.url,
        redisPrefix: prefix,
        subscriptions: true,
        jwtKey: HS_SECRET,
        presenceLeaseMs: LEASE_MS,
        presenceGraceMs: GRACE_MS,
        metrics: true,
      },
    });
  });
  afterAll(async () => {
    for (const stream of streams) stream.destroy();
    await hubA?.kill('SIGKILL');
    await hubB?.close(0);
    await redis?.destroy();
  });

  async function join(hubUrl: string, subject: string, clientKey: string): Promise<RawStream> {
    const token = await mint(key, { sub: subject, mercure: { payload: { name: subject } } });
    const stream = await openStream(
      `${hubUrl}?topic=${encodeURIComponent(ROOM)}&client_key=${clientKey}`,
      bearer(token),
    );
    streams.push(stream);
    return stream;
  }

  async function namesSeenBy(url: string): Promise<string[]> {
    const token = await mint(key, { mercure: { subscribe: [`${SUBSCRIPTIONS}{/topic}{/subscriber}`] } });
    const answer = await rawRequest(`${url}${SUBSCRIPTIONS}/${encodeURIComponent(ROOM)}`, {
      headers: bearer(token),
    });
    expect(answer.status).toBe(200);
    const list = JSON.parse(answer.body) as { subscriptions: { payload: { name: string } }[] };
    return list.subscriptions.map((entry) => entry.payload.name).sort();
  }

  const namesOnB = () =>
    hubB.hub
      .presence(ROOM)
      .map((entry) => (entry.payload as { name: string }).name)
      .sort();

  it('each hub sees both hubs subscriptions, no flap on a move within the grace period, a killed hub expires after its lease', async () => {
    const events: PresenceEvent[] = [];
    hubB.hub.onPresence((event) => events.push(event));
    const seen = () =>
      events.map((event) =>
        'topic' in event
          ? event.type
          : `${event.type}:${(event.subscription.payload as { name: string }).name}`,
      );

    const annOnA = await join(hubA.hubUrl, 'ann', 'tab');
    await eventually(() => namesOnB().includes('ann'), 10_000, 'B to see ann on A');
    expect(seen()).toEqual(['active:ann', 'occupied']);
    await join(hubB.hubUrl, 'bob', 'tab');
    await eventually(async () => (await namesSeenBy(hubA.url)).length === 2, 10_000, 'A to see bob on B');
    expect(await namesSeenBy(hubA.url)).toEqual(['ann', 'bob']);
    expect(await namesSeenBy(hubB.url)).toEqual(['ann', 'bob']);

    // Ann's connection to A drops and she reconnects to B at once: she never looks gone.
    annOnA.destroy();
    await join(hubB.hubUrl, 'ann', 'tab');
    // Past A's grace period, its "ann left" has been applied: B still holds her.
    await delay(GRACE_MS * 3);
    expect(namesOnB()).toEqual(['ann', 'bob']);
    expect(seen()).toEqual(['active:ann', 'occupied', 'active:bob']);

    // Carl is on A when A is killed: his subscription ends a lease later, the others stay.
    await join(hubA.hubUrl, 'carl', 'tab');
    await eventually(() => namesOnB().includes('carl'), 10_000, 'B to see carl on A');
    await hubA.kill('SIGKILL');
    await eventually(() => !namesOnB().includes('carl'), 10_000, "carl's lease to lapse");
    expect(namesOnB()).toEqual(['ann', 'bob']);
    expect(seen()).toEqual(['active:ann', 'occupied', 'active:bob', 'active:carl', 'inactive:carl']);
    // B reaped A's lapsed lease (a reap B sent before applying its first may be sent once more).
    const reaped = (await scrape(hubB.url)).get('ssehub_presence_leases_reaped_total');
    expect(reaped).toBeGreaterThanOrEqual(1);
    expect(reaped).toBeLessThanOrEqual(2);

    // The last ones leave: the room is vacant.
    for (const stream of streams.splice(0)) stream.destroy();
    await eventually(() => seen().at(-1) === 'vacant', 10_000, 'the room to be vacant');
    expect(hubB.hub.presence(ROOM)).toEqual([]);
  });
});
