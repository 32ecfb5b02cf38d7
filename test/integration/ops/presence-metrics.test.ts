import { afterEach, expect, test } from 'vitest';
import { openStream, startTestHub } from '../../helpers/hub.js';
import type { RawStream, TestHub } from '../../helpers/hub.js';
import { scrape } from '../../helpers/metrics.js';
import { HS_SECRET, bearer, hmacKey, mint } from '../../helpers/tokens.js';
import { eventually } from '../../helpers/wait.js';

/**
 * Presence metrics on /metrics, through a scripted scenario on one hub: active subscriptions,
 * occupied selectors, presence commands applied, grace-period reconnects. (Lease reaping needs a
 * second hub that dies: test/integration/presence-hubs.test.ts reads it from the survivor.)
 */
const key = hmacKey();
const GRACE_MS = 3000;
let hub: TestHub | undefined;
const streams: RawStream[] = [];
afterEach(async () => {
  for (const stream of streams.splice(0)) stream.destroy();
  await hub?.close(0);
  hub = undefined;
});

async function join(testHub: TestHub, subject: string, topic: string): Promise<RawStream> {
  const token = await mint(key, { sub: subject });
  const stream = await openStream(`${testHub.hubUrl}?topic=${encodeURIComponent(topic)}`, bearer(token));
  streams.push(stream);
  return stream;
}

function presenceOf(metrics: Map<string, number>) {
  return {
    active: metrics.get('ssehub_presence_active_subscriptions'),
    occupied: metrics.get('ssehub_presence_occupied_selectors'),
    commands: metrics.get('ssehub_presence_commands_total'),
    reaped: metrics.get('ssehub_presence_leases_reaped_total'),
    graceReconnects: metrics.get('ssehub_presence_grace_reconnects_total'),
  };
}

test('presence metrics follow joins, a reconnect within the grace period and a departure', async () => {
  hub = await startTestHub({
    config: { jwtKey: HS_SECRET, subscriptions: true, presenceGraceMs: GRACE_MS, metrics: true },
  });
  const testHub = hub;
  const metrics = async () => presenceOf(await scrape(testHub.url));
  // The hub's own start: one presence-sync command.
  await eventually(async () => (await metrics()).commands === 1, 5000, 'the start command');
  expect(await metrics()).toEqual({ active: 0, occupied: 0, commands: 1, reaped: 0, graceReconnects: 0 });

  const ann = await join(testHub, 'ann', 'https://example.com/rooms/1');
  const bob = await join(testHub, 'bob', 'https://example.com/rooms/1');
  await join(testHub, 'carl', 'https://example.com/rooms/2');
  await eventually(async () => (await metrics()).active === 3, 5000, 'three active subscriptions');
  expect(await metrics()).toEqual({ active: 3, occupied: 2, commands: 4, reaped: 0, graceReconnects: 0 });

  // Ann's connection drops and she is back within the grace period: no command, one flap prevented.
  ann.destroy();
  await ann.closed;
  await eventually(() => testHub.hub.stats().subscribers === 2, 5000, "the hub to see ann's stream end");
  await join(testHub, 'ann', 'https://example.com/rooms/1');
  expect(await metrics()).toEqual({ active: 3, occupied: 2, commands: 4, reaped: 0, graceReconnects: 1 });

  // Bob leaves for good: a grace period later his subscription ends; room 1 stays occupied by Ann.
  bob.destroy();
  await eventually(async () => (await metrics()).active === 2, GRACE_MS + 5000, "bob's subscription to end");
  expect(await metrics()).toEqual({ active: 2, occupied: 2, commands: 5, reaped: 0, graceReconnects: 1 });
});

test('a hub without --subscriptions exports the presence series at zero', async () => {
  hub = await startTestHub({ config: { metrics: true } });
  expect(presenceOf(await scrape(hub.url))).toEqual({
    active: 0,
    occupied: 0,
    commands: 0,
    reaped: 0,
    graceReconnects: 0,
  });
});
