import { afterEach, describe, expect, it } from 'vitest';
import { openStream, rawRequest, startTestHub } from '../helpers/hub.js';
import type { RawStream, TestHub } from '../helpers/hub.js';
import { HS_SECRET, bearer, hmacKey, mint } from '../helpers/tokens.js';
import { eventually } from '../helpers/wait.js';

/**
 * Subscription events and the subscriptions API in draft-08's shape (`--subscriptions-format`), and
 * both shapes from one hub. Draft-08 (the snapshot in docs/protocol.md): the event topic is
 * `/.well-known/mercure/subscriptions/{match_type}/{match}/{subscriber}`, its data plain JSON
 * `{type: "subscription", id, match, match_type, subscriber, active, payload}`, sent with SSE
 * `event: mercure`; the API answers `application/json` with its cursor in
 * `Link: <hub>; rel="mercure"; last-event-id="…"`, exposed to CORS.
 */
let hub: TestHub | undefined;
const streams: RawStream[] = [];
afterEach(async () => {
  for (const stream of streams.splice(0)) stream.destroy();
  await hub?.close(0);
  hub = undefined;
});

const key = hmacKey();
const ROOM = 'https://example.com/rooms/1';
const SECRET_ROOM = 'https://example.com/secret/1';
const SUBSCRIPTIONS = '/.well-known/mercure/subscriptions';
/** Draft-08 observer rights: every exact subscription to the room, and the API paths naming it. */
const DRAFT_08_ROOM_OBSERVER = [
  SUBSCRIPTIONS,
  `${SUBSCRIPTIONS}/exact/${encodeURIComponent(ROOM)}`,
  `${SUBSCRIPTIONS}/exact/${encodeURIComponent(ROOM)}/{subscriber}`,
];
const DRAFT_07_ALL = `${SUBSCRIPTIONS}/{topic}/{subscriber}`;
const DRAFT_08_ALL = `${SUBSCRIPTIONS}/{match_type}/{match}/{subscriber}`;
const LINK = /^<\/\.well-known\/mercure>; rel="mercure"; last-event-id="([^"]+)"$/;

async function startHub(format: 'draft-08' | 'both'): Promise<TestHub> {
  return startTestHub({
    config: {
      jwtKey: HS_SECRET,
      subscriptions: true,
      presenceGraceMs: 0,
      subscriptionsFormat: format,
      corsOrigins: ['https://app.example'],
    },
  });
}

async function watch(testHub: TestHub, query: string, token: string): Promise<RawStream> {
  const stream = await openStream(`${testHub.hubUrl}?${query}`, bearer(token));
  streams.push(stream);
  return stream;
}

async function api(testHub: TestHub, path: string, token: string, headers: Record<string, string> = {}) {
  const answer = await rawRequest(`${testHub.url}${path}`, { headers: { ...bearer(token), ...headers } });
  return {
    ...answer,
    json: answer.status === 200 ? (JSON.parse(answer.body) as Record<string, unknown>) : {},
  };
}

const documents = (stream: RawStream) =>
  stream.events.map((event) => ({
    type: event.type,
    doc: JSON.parse(event.data) as Record<string, unknown>,
  }));
const templateQuery = (template: string) => `topic=${encodeURIComponent(template)}`;

describe('draft-08 subscription events and API', () => {
  it('publishes plain JSON events with event: mercure on …/{match_type}/{match}/{subscriber}, only to tokens with the right', async () => {
    hub = await startHub('draft-08');
    const observer = await watch(
      hub,
      templateQuery(`${SUBSCRIPTIONS}/exact/${encodeURIComponent(ROOM)}/{subscriber}`),
      await mint(key, { mercure: { subscribe: DRAFT_08_ROOM_OBSERVER } }),
    );
    // Neither a token without rights, nor one with draft-07 rights only, sees a draft-08 event.
    const noRights = await watch(hub, 'topic=*', await mint(key, {}));
    const draft07Rights = await watch(
      hub,
      'topic=*',
      await mint(key, { mercure: { subscribe: [DRAFT_07_ALL] } }),
    );
    const member = await mint(key, { sub: 'ann', mercure: { payload: { name: 'Ann' } } });
    const ann = await watch(hub, `match=${encodeURIComponent(ROOM)}`, member);
    await observer.waitFor(() => observer.events.length === 1, 5000, 'the active event');
    const [active] = documents(observer);
    expect(active?.type).toBe('mercure');
    const subscriber = active?.doc.subscriber as string;
    expect(active?.doc).toEqual({
      type: 'subscription',
      id: `${SUBSCRIPTIONS}/exact/${encodeURIComponent(ROOM)}/${encodeURIComponent(subscriber)}`,
      match: ROOM,
      match_type: 'exact',
      subscriber,
      active: true,
      payload: { name: 'Ann' },
    });
    // A subscription to a room the observer has no right on is never shown.
    const secret = await watch(hub, `match=${encodeURIComponent(SECRET_ROOM)}`, member);
    secret.destroy();
    ann.destroy();
    await observer.waitFor(() => observer.events.length === 2, 5000, 'the inactive event');
    expect(documents(observer)[1]).toMatchObject({ type: 'mercure', doc: { match: ROOM, active: false } });
    // The secret room's events went out meanwhile (a watcher with every right sees all four).
    const everything = await watch(
      hub,
      `${templateQuery(DRAFT_08_ALL)}&lastEventID=earliest`,
      await mint(key, { mercure: { subscribe: [DRAFT_08_ALL] } }),
    );
    await everything.waitFor(() => everything.events.length >= 4, 5000, 'every subscription event');
    expect(noRights.events).toEqual([]);
    expect(draft07Rights.events).toEqual([]);
    expect(observer.events).toHaveLength(2);
  });

  it('answers application/json with the cursor in a Link header, filtered by rights; the cursor resumes the events exactly', async () => {
    hub = await startHub('draft-08');
    const member = await mint(key, { sub: 'ann', mercure: { payload: { name: 'Ann' } } });
    const ann = await watch(hub, `match=${encodeURIComponent(ROOM)}`, member);
    await watch(hub, `match=${encodeURIComponent(SECRET_ROOM)}`, member);
    const token = await mint(key, { mercure: { subscribe: DRAFT_08_ROOM_OBSERVER } });
    const testHub = hub;
    await eventually(async () => {
      const list = await api(testHub, SUBSCRIPTIONS, token);
      return (list.json.subscriptions as unknown[] | undefined)?.length === 1;
    });
    const list = await api(hub, SUBSCRIPTIONS, token, { Origin: 'https://app.example' });
    expect(list.headers['content-type']).toBe('application/json');
    expect(list.headers['access-control-expose-headers']).toMatch(/\bLink\b/);
    const cursor = LINK.exec(String(list.headers.link))?.[1];
    expect(cursor).toBeDefined();
    expect(list.json).not.toHaveProperty('lastEventID');
    expect(list.json).toMatchObject({ type: 'subscriptions', id: SUBSCRIPTIONS });
    const [entry] = list.json.subscriptions as Record<string, unknown>[];
    expect(entry).toMatchObject({ type: 'subscription', match: ROOM, match_type: 'exact', active: true });

    const byMatch = await api(hub, `${SUBSCRIPTIONS}/exact/${encodeURIComponent(ROOM)}`, token);
    expect((byMatch.json.subscriptions as unknown[]).length).toBe(1);
    const one = await api(hub, entry?.id as string, token);
    expect(one.json).toEqual(entry);
    expect(one.headers.link).toMatch(LINK);
    // Another matcher type names other subscriptions (none here); the path still needs the right.
    expect((await api(hub, `${SUBSCRIPTIONS}/template/${encodeURIComponent(ROOM)}`, token)).status).toBe(403);

    const observer = await watch(
      hub,
      `${templateQuery(`${SUBSCRIPTIONS}/exact/${encodeURIComponent(ROOM)}/{subscriber}`)}&lastEventID=${encodeURIComponent(cursor!)}`,
      token,
    );
    ann.destroy();
    await observer.waitFor(() => observer.events.length === 1, 5000, 'the inactive event');
    expect(documents(observer)).toEqual([
      { type: 'mercure', doc: expect.objectContaining({ match: ROOM, active: false }) as unknown },
    ]);
  });

  it('refuses malformed draft-08 paths with a clear status and one line', async () => {
    hub = await startHub('draft-08');
    const token = await mint(key, { mercure: { subscribe: ['*'] } });
    const cases: [string, number, RegExp][] = [
      [`${SUBSCRIPTIONS}/regex/${encodeURIComponent(ROOM)}`, 400, /Unknown match_type/],
      [`${SUBSCRIPTIONS}/exact`, 404, /names \{match_type\}\/\{match\}/],
      [`${SUBSCRIPTIONS}/exact/a/b/c`, 404, /Not found/],
      [`${SUBSCRIPTIONS}/exact/%E0%A4%A/x`, 400, /percent-encoding/],
      [`${SUBSCRIPTIONS}/exact/${encodeURIComponent(ROOM)}/nobody`, 404, /no such active subscription/],
    ];
    for (const [path, status, reason] of cases) {
      const answer = await api(hub, path, token);
      expect([path, answer.status]).toEqual([path, status]);
      expect(answer.body.trim().split('\n')).toHaveLength(1);
      expect(answer.body).toMatch(reason);
    }
    expect((await api(hub, SUBSCRIPTIONS, await mint(key, {}))).status).toBe(403);
  });
});

describe('both shapes from one hub (--subscriptions-format=both)', () => {
  it('publishes each change once per shape, each seen only by selectors of its shape', async () => {
    hub = await startHub('both');
    const draft07 = await watch(
      hub,
      templateQuery(DRAFT_07_ALL),
      await mint(key, { mercure: { subscribe: [DRAFT_07_ALL] } }),
    );
    const draft08 = await watch(
      hub,
      templateQuery(DRAFT_08_ALL),
      await mint(key, { mercure: { subscribe: [DRAFT_08_ALL] } }),
    );
    const ann = await watch(hub, `topic=${encodeURIComponent(ROOM)}`, await mint(key, { sub: 'ann' }));
    const about = (stream: RawStream, field: string) =>
      documents(stream).filter(({ doc }) => doc[field] === ROOM).length;
    await draft07.waitFor(() => about(draft07, 'topic') === 1, 5000, 'the draft-07 event');
    await draft08.waitFor(() => about(draft08, 'match') === 1, 5000, 'the draft-08 event');
    ann.destroy();
    await draft07.waitFor(() => about(draft07, 'topic') === 2, 5000, 'the draft-07 inactive event');
    await draft08.waitFor(() => about(draft08, 'match') === 2, 5000, 'the draft-08 inactive event');
    // Each watcher saw only its own shape: the other watcher's subscription, and its own, in it.
    expect(
      documents(draft07).every(({ type, doc }) => type === 'message' && doc.type === 'Subscription'),
    ).toBe(true);
    expect(
      documents(draft08).every(({ type, doc }) => type === 'mercure' && doc.type === 'subscription'),
    ).toBe(true);
    // Observers are subscriptions too: only the room's are looked at.
    const [on07, off07] = documents(draft07).filter(({ doc }) => doc.topic === ROOM);
    const [on08, off08] = documents(draft08).filter(({ doc }) => doc.match === ROOM);
    expect(on07).toMatchObject({
      type: 'message',
      doc: { '@context': 'https://mercure.rocks/', type: 'Subscription', topic: ROOM, active: true },
    });
    expect(off07).toMatchObject({ type: 'message', doc: { type: 'Subscription', active: false } });
    // A draft-07 topic= selector is shown to draft-08 readers with ssehub's own match_type.
    expect(on08).toMatchObject({
      type: 'mercure',
      doc: { type: 'subscription', match: ROOM, match_type: 'template', active: true },
    });
    expect(off08).toMatchObject({ type: 'mercure', doc: { active: false } });
    expect(on08?.doc.subscriber).toBe(on07?.doc.subscriber);
  });

  it('answers the API in draft-07 unless the request asks for draft-08 (a member path, or plain JSON only)', async () => {
    hub = await startHub('both');
    await watch(hub, `topic=${encodeURIComponent(ROOM)}`, await mint(key, { sub: 'ann' }));
    const token = await mint(key, { mercure: { subscribe: [`${SUBSCRIPTIONS}{/a}{/b}{/c}`] } });
    const testHub = hub;
    await eventually(
      async () => ((await api(testHub, SUBSCRIPTIONS, token)).json.subscriptions as unknown[]).length === 1,
    );

    const plain = await api(hub, SUBSCRIPTIONS, token);
    const ldJson = await api(hub, SUBSCRIPTIONS, token, { Accept: 'application/ld+json, application/json' });
    for (const answer of [plain, ldJson]) {
      expect(answer.headers['content-type']).toBe('application/ld+json');
      expect(answer.json).toMatchObject({
        type: 'Subscriptions',
        lastEventID: expect.any(String) as unknown,
      });
      expect(answer.headers.vary).toBe('Accept');
      expect(answer.headers.link).toMatch(LINK);
    }
    const json = await api(hub, SUBSCRIPTIONS, token, { Accept: 'application/json' });
    expect(json.headers['content-type']).toBe('application/json');
    const [entry] = json.json.subscriptions as Record<string, unknown>[];
    expect(entry).toMatchObject({ type: 'subscription', match: ROOM, match_type: 'template' });
    // Refusing JSON-LD with q=0 is asking for plain JSON.
    const refused = await api(hub, SUBSCRIPTIONS, token, {
      Accept: 'application/ld+json;q=0, application/json',
    });
    expect(refused.headers['content-type']).toBe('application/json');
    // A draft-08 member path is draft-08 whatever the Accept header says.
    const member = await api(hub, entry?.id as string, token);
    expect(member.headers['content-type']).toBe('application/json');
    expect(member.json).toEqual(entry);
  });
});
