import { afterEach, describe, expect, it } from 'vitest';
import { openStream, rawRequest, startTestHub } from '../helpers/hub.js';
import type { RawStream, TestHub } from '../helpers/hub.js';
import { HS_SECRET, bearer, hmacKey, mint } from '../helpers/tokens.js';
import { eventually } from '../helpers/wait.js';

/**
 * Mercure active subscriptions on one hub (`--subscriptions`): the private subscription events, the
 * JSON-LD API with `lastEventID`, the token's payload, access by subscribe rights, the subscriber id
 * kept across reconnects, and the grace period.
 */
let hub: TestHub | undefined;
afterEach(async () => {
  await hub?.close(0);
  hub = undefined;
});

const key = hmacKey();
const ROOM = 'https://example.com/rooms/1';
const SECRET_ROOM = 'https://example.com/secret/1';
const SUBSCRIPTIONS = '/.well-known/mercure/subscriptions';
/** Rights to see subscriptions to rooms only (and the API's collection and room paths). */
const ROOM_OBSERVER = [
  `${SUBSCRIPTIONS}`,
  `${SUBSCRIPTIONS}/{topic}`,
  `${SUBSCRIPTIONS}/${encodeURIComponent(ROOM)}/{subscriber}`,
];

async function startHub(graceMs = 0): Promise<TestHub> {
  return startTestHub({ config: { jwtKey: HS_SECRET, subscriptions: true, presenceGraceMs: graceMs } });
}

function streamUrl(hubUrl: string, topic: string, clientKey?: string): string {
  return `${hubUrl}?topic=${encodeURIComponent(topic)}${clientKey ? `&client_key=${clientKey}` : ''}`;
}

async function api(testHub: TestHub, path: string, token: string) {
  const answer = await rawRequest(`${testHub.url}${path}`, { headers: bearer(token) });
  return {
    ...answer,
    json: answer.status === 200 ? (JSON.parse(answer.body) as Record<string, unknown>) : {},
  };
}

function documents(stream: RawStream): Record<string, unknown>[] {
  return stream.events.map((event) => JSON.parse(event.data) as Record<string, unknown>);
}

describe('active subscriptions on one hub', () => {
  it('publishes an active and an inactive private event, with the token payload, to a subscriber with the right', async () => {
    hub = await startHub();
    const observerToken = await mint(key, { mercure: { subscribe: ROOM_OBSERVER } });
    const observer = await openStream(
      `${hub.hubUrl}?topic=${encodeURIComponent(`${SUBSCRIPTIONS}/{topic}/{subscriber}`)}`,
      bearer(observerToken),
    );
    const anonymousWatcher = await openStream(`${hub.hubUrl}?topic=*`, bearer(await mint(key, {})));
    const member = await mint(key, { sub: 'ann', mercure: { subscribe: [], payload: { name: 'Ann' } } });
    const stream = await openStream(streamUrl(hub.hubUrl, ROOM), bearer(member));
    await observer.waitFor(() => observer.events.length === 1, 5000, 'the active event');
    const [active] = documents(observer);
    expect(active).toMatchObject({
      '@context': 'https://mercure.rocks/',
      type: 'Subscription',
      topic: ROOM,
      active: true,
      payload: { name: 'Ann' },
    });
    const subscriber = active?.subscriber as string;
    expect(subscriber).toMatch(/^urn:ssehub:subscriber:/);
    expect(active?.id).toBe(`${SUBSCRIPTIONS}/${encodeURIComponent(ROOM)}/${encodeURIComponent(subscriber)}`);
    stream.destroy();
    await observer.waitFor(() => observer.events.length === 2, 5000, 'the inactive event');
    expect(documents(observer)[1]).toMatchObject({ topic: ROOM, subscriber, active: false });
    // A subscription to a topic the observer has no right on is never shown, nor to anyone without rights.
    const secret = await openStream(streamUrl(hub.hubUrl, SECRET_ROOM), bearer(member));
    secret.destroy();
    const again = await openStream(streamUrl(hub.hubUrl, ROOM), bearer(member));
    await observer.waitFor(() => observer.events.length === 3, 5000, 'the next active event');
    expect(documents(observer).map((doc) => doc.topic)).toEqual([ROOM, ROOM, ROOM]);
    expect(anonymousWatcher.events).toEqual([]);
    for (const open of [again, observer, anonymousWatcher]) open.destroy();
  });

  it('serves the JSON-LD API filtered by rights; lastEventID resumes the events from exactly that point', async () => {
    hub = await startHub();
    const member = await mint(key, { sub: 'ann', mercure: { payload: { name: 'Ann' } } });
    const room = await openStream(streamUrl(hub.hubUrl, ROOM), bearer(member));
    const secret = await openStream(streamUrl(hub.hubUrl, SECRET_ROOM), bearer(member));
    const observerToken = await mint(key, { mercure: { subscribe: ROOM_OBSERVER } });
    await eventually(async () => {
      const list = await api(hub!, SUBSCRIPTIONS, observerToken);
      return (list.json.subscriptions as unknown[] | undefined)?.length === 1;
    });
    const list = await api(hub, SUBSCRIPTIONS, observerToken);
    expect(list.status).toBe(200);
    expect(list.headers['content-type']).toBe('application/ld+json');
    expect(list.json).toMatchObject({ id: SUBSCRIPTIONS, type: 'Subscriptions' });
    const [entry] = list.json.subscriptions as Record<string, unknown>[];
    expect(entry).toMatchObject({ topic: ROOM, active: true, payload: { name: 'Ann' } });
    const lastEventID = list.json.lastEventID as string;
    expect(lastEventID).not.toBe('earliest');

    const byTopic = await api(hub, `${SUBSCRIPTIONS}/${encodeURIComponent(ROOM)}`, observerToken);
    expect((byTopic.json.subscriptions as unknown[]).length).toBe(1);
    const one = await api(hub, entry?.id as string, observerToken);
    expect(one.json).toMatchObject({ type: 'Subscription', topic: ROOM, active: true });
    expect(typeof one.json.lastEventID).toBe('string');

    // Subscribing from lastEventID: the next change arrives, and nothing from before it.
    const observer = await openStream(
      `${hub.hubUrl}?topic=${encodeURIComponent(`${SUBSCRIPTIONS}/{topic}/{subscriber}`)}&lastEventID=${encodeURIComponent(lastEventID)}`,
      bearer(observerToken),
    );
    room.destroy();
    await observer.waitFor(() => observer.events.length >= 1, 5000, 'the inactive event');
    expect(documents(observer).at(-1)).toMatchObject({ topic: ROOM, active: false });
    expect(documents(observer).every((doc) => doc.topic === ROOM)).toBe(true);
    for (const open of [observer, secret]) open.destroy();
  });

  it('refuses the API without a token (401), without a right on the path (403), and answers 404 for an unknown subscription', async () => {
    hub = await startHub();
    const anonymous = await rawRequest(`${hub.url}${SUBSCRIPTIONS}`);
    expect(anonymous.status).toBe(401);
    const roomOnly = await mint(key, { mercure: { subscribe: [`${SUBSCRIPTIONS}/{topic}`] } });
    const collection = await api(hub, SUBSCRIPTIONS, roomOnly);
    expect(collection.status).toBe(403);
    expect(collection.body).toMatch(/^Forbidden: the token's subscribe rights do not cover/);
    const noRights = await api(hub, `${SUBSCRIPTIONS}/x`, await mint(key, {}));
    expect(noRights.status).toBe(403);
    const all = await mint(key, { mercure: { subscribe: ['*'] } });
    expect((await api(hub, `${SUBSCRIPTIONS}/x/urn%3Auuid%3Anope`, all)).status).toBe(404);
    expect((await api(hub, `${SUBSCRIPTIONS}/a/b/c`, all)).status).toBe(404);
    expect((await api(hub, `${SUBSCRIPTIONS}/%E0%A4%A`, all)).status).toBe(400);
    const post = await rawRequest(`${hub.url}${SUBSCRIPTIONS}`, { method: 'POST', headers: bearer(all) });
    expect(post.status).toBe(405);
  });

  it('keeps the subscriber id across reconnects with the same subject and client_key; a reconnect within the grace period is no flap', async () => {
    hub = await startHub(1000);
    const events: string[] = [];
    hub.hub.onPresence((event) => events.push(event.type));
    const member = await mint(key, { sub: 'ann' });
    const first = await openStream(streamUrl(hub.hubUrl, ROOM, 'tab-1'), bearer(member));
    await eventually(() => hub!.hub.presence(ROOM).length === 1);
    const [before] = hub.hub.presence(ROOM);
    first.destroy();
    const second = await openStream(streamUrl(hub.hubUrl, ROOM, 'tab-1'), bearer(member));
    const otherTab = await openStream(streamUrl(hub.hubUrl, ROOM, 'tab-2'), bearer(member));
    await eventually(() => hub!.hub.presence(ROOM).length === 2);
    expect(hub.hub.presence(ROOM).map((entry) => entry.subscriber)).toContain(before?.subscriber);
    expect(events).toEqual(['active', 'occupied', 'active']);
    // A template subscription is included in presence of a topic it matches.
    expect(hub.hub.presence('https://example.com/rooms/2')).toEqual([]);
    second.destroy();
    otherTab.destroy();
    await eventually(() => hub!.hub.presence(ROOM).length === 0, 5000, 'the grace period to end');
    expect(events).toEqual(['active', 'occupied', 'active', 'inactive', 'inactive', 'vacant']);
  });

  it('without --subscriptions, the API is not served', async () => {
    hub = await startTestHub();
    expect((await rawRequest(`${hub.url}${SUBSCRIPTIONS}`)).status).toBe(404);
    expect(hub.hub.presence()).toEqual([]);
  });
});
