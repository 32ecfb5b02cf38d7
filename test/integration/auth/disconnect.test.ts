import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../../src/store/redis.js';
import { openStream, publish, rawRequest, startTestHub, topicUrl } from '../../helpers/hub.js';
import type { RawStream, TestHub } from '../../helpers/hub.js';
import { RedisServer, redisAvailable } from '../../helpers/redis.js';
import { expectRefused, trySubscribe } from '../../helpers/auth-answers.js';
import { HS_SECRET, bearer, hmacKey, mint, publisherClaims, subscriberClaims } from '../../helpers/tokens.js';

const TOPIC = 'https://example.com/chat';
const key = hmacKey();
const hubs: TestHub[] = [];
afterEach(async () => {
  for (const hub of hubs.splice(0)) await hub.close();
});

const disconnectUrl = (hub: TestHub) => `${hub.hubUrl}/disconnect`;

function requestDisconnect(hub: TestHub, subject: string | undefined, headers: Record<string, string>) {
  return rawRequest(disconnectUrl(hub), {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
    body: subject === undefined ? '' : new URLSearchParams({ subject }).toString(),
  });
}

async function subscribe(
  hub: TestHub,
  subject: string,
  rights: string[] = [],
  via: 'header' | 'cookie' = 'header',
  token?: string,
) {
  token ??= await mint(key, subscriberClaims(rights, subject), { expiresIn: 600 });
  const headers = via === 'cookie' ? { Cookie: `mercureAuthorization=${token}` } : bearer(token);
  const stream = await openStream(topicUrl(hub.hubUrl, rights.includes('*') ? ['*'] : [TOPIC]), headers);
  expect(stream.response.statusCode).toBe(200);
  return stream;
}

async function isOpenAndServed(hub: TestHub, streams: RawStream[]) {
  const sent = await publish(
    hub.hubUrl,
    { topic: TOPIC, data: 'ping' },
    bearer(await mint(key, publisherClaims('*'))),
  );
  expect(sent.status).toBe(200);
  for (const stream of streams) {
    await stream.waitFor(() => stream.events.some((event) => event.lastEventId === sent.body), 5000, 'ping');
  }
  return sent.body;
}

describe('cutting off a subject', () => {
  it('closes every stream of the subject, nobody else’s, and no subscriber ever sees the command', async () => {
    const hub = await startTestHub({ config: { jwtKey: HS_SECRET, demo: false } });
    hubs.push(hub);
    const aliceToken = await mint(key, subscriberClaims([], 'alice'), { expiresIn: 600 });
    const aliceHeader = await subscribe(hub, 'alice', [], 'header', aliceToken);
    const aliceCookie = await subscribe(hub, 'alice', [], 'cookie');
    const bob = await subscribe(hub, 'bob');
    const operator = await subscribe(hub, 'ops', ['*']);

    const refusals: [string | undefined, Record<string, string>, number, RegExp][] = [
      ['alice', {}, 401, /Authorization required to publish/],
      [
        'alice',
        bearer(await mint(key, publisherClaims(TOPIC))),
        403,
        /may not publish to "\/.well-known\/mercure\/subjects\/alice"/,
      ],
      [
        'alice',
        bearer(await mint(key, publisherClaims('/.well-known/mercure/subjects/bob'))),
        403,
        /subjects\/alice/,
      ],
      ['alice', bearer(await mint(key, publisherClaims('*'), { expiresIn: -60 })), 401, /token expired/],
      [undefined, bearer(await mint(key, publisherClaims('*'))), 400, /Missing "subject"/],
    ];
    for (const [subject, headers, status, reason] of refusals) {
      expectRefused(await requestDisconnect(hub, subject, headers), status, reason);
    }
    expectRefused(await rawRequest(disconnectUrl(hub), { method: 'GET' }), 405, /POST a subject/);
    await isOpenAndServed(hub, [aliceHeader, aliceCookie, bob, operator]);

    const done = await requestDisconnect(hub, 'alice', bearer(await mint(key, publisherClaims('*'))));
    expect(done.status).toBe(200);
    await Promise.all([aliceHeader.closed, aliceCookie.closed]);
    expect(hub.hub.stats().subscribers).toBe(2);
    const ping = await isOpenAndServed(hub, [bob, operator]);
    // The operator holds `*` rights on `*`: the control event still never reached it, live or replayed.
    expect(operator.events.map((event) => event.lastEventId)).not.toContain(done.body);
    const replay = await openStream(topicUrl(hub.hubUrl, ['*']), {
      ...bearer(await mint(key, subscriberClaims(['*'], 'ops'), { expiresIn: 600 })),
      'Last-Event-ID': 'earliest',
    });
    await replay.waitFor(() => replay.events.some((event) => event.lastEventId === ping), 5000, 'replay');
    expect(replay.events.map((event) => event.data)).toEqual(['ping', 'ping']);
    replay.destroy();

    // The cut-off subject cannot come back with the token it had, only with one issued afterwards.
    const again = await trySubscribe(hub.hubUrl, [TOPIC], bearer(aliceToken));
    expectRefused(again, 401, /token revoked/, 'token revoked');
    const publishing = await publish(
      hub.hubUrl,
      { topic: TOPIC, data: 'x' },
      bearer(await mint(key, { sub: 'alice', ...publisherClaims('*') }, { issuedIn: -5 })),
    );
    expectRefused(publishing, 401, /token revoked/, 'token revoked');
    const fresh = await mint(key, subscriberClaims([], 'alice'), { expiresIn: 600, issuedIn: 1 });
    const back = await subscribe(hub, 'alice', [], 'header', fresh);
    back.destroy();

    // A token for one subject's topic may cut off that subject only.
    const bobOnly = bearer(await mint(key, publisherClaims('/.well-known/mercure/subjects/bob')));
    expect((await requestDisconnect(hub, 'bob', bobOnly)).status).toBe(200);
    await bob.closed;
    operator.destroy();
  });
});

describe('cutting off a subject across hubs sharing Redis', () => {
  const available = redisAvailable('auth: disconnect across hubs');
  let redis: RedisServer | undefined;
  beforeAll(async () => {
    if (available) redis = await RedisServer.start();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it.skipIf(!available)(
    'a disconnect sent to one hub closes the subject’s streams on the other',
    async () => {
      const prefix = `auth-disconnect-${process.pid}`;
      const start = async () => {
        const store = await RedisStore.connect({ url: redis!.url, prefix });
        const hub = await startTestHub({ store, config: { jwtKey: HS_SECRET, demo: false } });
        hubs.push(hub);
        return hub;
      };
      const [first, second] = [await start(), await start()];
      const aliceThere = await subscribe(second, 'alice');
      const aliceHere = await subscribe(first, 'alice');
      const carol = await subscribe(second, 'carol');
      const done = await requestDisconnect(first, 'alice', bearer(await mint(key, publisherClaims('*'))));
      expect(done.status).toBe(200);
      await Promise.all([aliceThere.closed, aliceHere.closed]);
      await isOpenAndServed(second, [carol]);
      expect(carol.events.map((event) => event.data)).toEqual(['ping']);
      carol.destroy();
    },
  );

  it.skipIf(!available)(
    'a hub started after the cut-off learns it from the store and refuses the older tokens too',
    async () => {
      const prefix = `auth-disconnect-later-${process.pid}`;
      const start = async () => {
        const store = await RedisStore.connect({ url: redis!.url, prefix });
        const hub = await startTestHub({ store, config: { jwtKey: HS_SECRET, demo: false } });
        hubs.push(hub);
        return hub;
      };
      const first = await start();
      const aliceToken = await mint(key, subscriberClaims([], 'alice'), { expiresIn: 600, issuedIn: -5 });
      const done = await requestDisconnect(first, 'alice', bearer(await mint(key, publisherClaims('*'))));
      expect(done.status).toBe(200);
      // Other events after the command: it is found anywhere in the retained history.
      await isOpenAndServed(first, []);

      const later = await start();
      expectRefused(
        await trySubscribe(later.hubUrl, [TOPIC], bearer(aliceToken)),
        401,
        /token revoked/,
        'token revoked',
      );
      const fresh = await mint(key, subscriberClaims([], 'alice'), { expiresIn: 600, issuedIn: 1 });
      (await subscribe(later, 'alice', [], 'header', fresh)).destroy();
      const bob = await subscribe(later, 'bob');
      bob.destroy();
    },
  );
});
