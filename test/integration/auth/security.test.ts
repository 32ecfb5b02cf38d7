import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStream, publish, rawRequest, startTestHub, topicUrl } from '../../helpers/hub.js';
import type { RawStream, TestHub } from '../../helpers/hub.js';
import { expectRefused, trySubscribe } from '../../helpers/auth-answers.js';
import {
  HS_SECRET,
  OTHER_SECRET,
  asymmetricKey,
  bearer,
  hmacKey,
  mint,
  publisherClaims,
  subscriberClaims,
  unsignedToken,
} from '../../helpers/tokens.js';

/**
 * The security table: every refused request gets the right status and a reason a client can act
 * on, nothing it attempted takes effect, and an authorized subscriber watching everything keeps
 * receiving exactly the accepted updates, in order, during and after the attacks.
 */
const APP_ORIGIN = 'http://app.example';
const key = hmacKey();
let hub: TestHub;
let watcher: RawStream;
const accepted: string[] = [];

beforeAll(async () => {
  hub = await startTestHub({
    config: { jwtKey: HS_SECRET, corsOrigins: [APP_ORIGIN], demo: false, publishRatePerSecond: 0 },
  });
  const watcherToken = await mint(key, subscriberClaims(['*'], 'watcher'), { expiresIn: 3600 });
  watcher = await openStream(topicUrl(hub.hubUrl, ['*']), bearer(watcherToken));
  expect(watcher.response.statusCode).toBe(200);
});

afterAll(async () => {
  // After everything: one more update still reaches the watcher, and it saw exactly what was accepted.
  const token = await mint(key, publisherClaims('*'));
  const last = await publish(
    hub.hubUrl,
    { topic: 'https://example.com/final', data: 'final' },
    bearer(token),
  );
  expect(last.status).toBe(200);
  accepted.push(last.body);
  await watcher.waitFor(() => watcher.events.length >= accepted.length, 5000, 'all accepted updates');
  expect(watcher.events.map((event) => event.lastEventId)).toEqual(accepted);
  watcher.destroy();
  await hub?.close();
});

async function acceptedPublish(fields: Record<string, string | string[]>, headers: Record<string, string>) {
  const answer = await publish(hub.hubUrl, fields, headers);
  expect(answer, answer.body).toMatchObject({ status: 200 });
  accepted.push(answer.body);
  return answer;
}

const later = 3600;
const TOPIC_A = 'https://example.com/books/a';
const TOPIC_B = 'https://example.com/books/b';

describe('subscribing with a bad token', () => {
  const cases: {
    name: string;
    token: () => Promise<string> | string;
    status: number;
    reason: RegExp;
    tokenError: string | null;
    headers?: (token: string) => Record<string, string>;
  }[] = [
    {
      name: 'no token',
      token: () => '',
      status: 401,
      reason: /Authorization required to subscribe/,
      tokenError: null,
      headers: () => ({}),
    },
    {
      name: 'garbage',
      token: () => 'not-a-jwt',
      status: 401,
      reason: /malformed token/,
      tokenError: 'malformed token',
    },
    {
      name: 'three garbage segments',
      token: () => 'abc.def.ghi',
      status: 401,
      reason: /malformed token/,
      tokenError: 'malformed token',
    },
    {
      name: 'an empty bearer',
      token: () => '',
      status: 401,
      reason: /malformed token/,
      tokenError: 'malformed token',
    },
    {
      name: 'a non-Bearer scheme',
      token: () => 'x',
      status: 401,
      reason: /malformed token/,
      tokenError: 'malformed token',
      headers: () => ({ Authorization: 'Basic dXNlcjpwYXNz' }),
    },
    {
      name: 'a wrong signature',
      token: () => mint(hmacKey(OTHER_SECRET), subscriberClaims(['*']), { expiresIn: later }),
      status: 401,
      reason: /bad signature/,
      tokenError: 'bad signature',
    },
    {
      name: 'an expired token',
      token: () => mint(key, subscriberClaims(['*']), { expiresIn: -60 }),
      status: 401,
      reason: /token expired/,
      tokenError: 'token expired',
    },
    {
      name: 'a token not yet valid',
      token: () => mint(key, subscriberClaims(['*']), { notBefore: 60 }),
      status: 401,
      reason: /token not yet valid/,
      tokenError: 'token not yet valid',
    },
    {
      name: 'alg none',
      token: () => unsignedToken(subscriberClaims(['*'])),
      status: 401,
      reason: /algorithm not allowed/,
      tokenError: 'algorithm not allowed',
    },
    {
      name: 'an algorithm not configured (HS512 with the right secret)',
      token: () => mint(hmacKey(HS_SECRET, 'HS512'), subscriberClaims(['*'])),
      status: 401,
      reason: /algorithm not allowed/,
      tokenError: 'algorithm not allowed',
    },
    {
      name: 'an RS256 token on an HS256 hub',
      token: async () => mint(await asymmetricKey('RS256'), subscriberClaims(['*'])),
      status: 401,
      reason: /algorithm not allowed/,
      tokenError: 'algorithm not allowed',
    },
    {
      name: 'a mercure claim of the wrong shape',
      token: () => mint(key, { mercure: { subscribe: 'https://example.com/books/a' } }),
      status: 401,
      reason: /must be an array/,
      tokenError: 'invalid claims',
    },
  ];
  for (const testCase of cases) {
    it(`refuses ${testCase.name}`, async () => {
      const token = await testCase.token();
      const headers = testCase.headers ? testCase.headers(token) : bearer(token);
      const answer = await trySubscribe(hub.hubUrl, [TOPIC_A], headers);
      expectRefused(answer, testCase.status, testCase.reason, testCase.tokenError);
      expect(hub.hub.stats().subscribers).toBe(1);
    });
  }
});

describe('publishing without the right token', () => {
  const cases: {
    name: string;
    token: () => Promise<string> | string;
    topics: string[];
    status: number;
    reason: RegExp;
    tokenError?: string | null;
    headers?: (token: string) => Record<string, string>;
  }[] = [
    {
      name: 'no token',
      token: () => '',
      topics: [TOPIC_A],
      status: 401,
      reason: /Authorization required to publish/,
      tokenError: null,
      headers: () => ({}),
    },
    {
      name: 'an expired token',
      token: () => mint(key, publisherClaims('*'), { expiresIn: -60 }),
      topics: [TOPIC_A],
      status: 401,
      reason: /token expired/,
      tokenError: 'token expired',
    },
    {
      name: 'a wrongly signed token',
      token: () => mint(hmacKey(OTHER_SECRET), publisherClaims('*')),
      topics: [TOPIC_A],
      status: 401,
      reason: /bad signature/,
      tokenError: 'bad signature',
    },
    {
      name: 'alg none',
      token: () => unsignedToken(publisherClaims('*')),
      topics: [TOPIC_A],
      status: 401,
      reason: /algorithm not allowed/,
      tokenError: 'algorithm not allowed',
    },
    {
      name: 'a token without publish rights',
      token: () => mint(key, subscriberClaims(['*'])),
      topics: [TOPIC_A],
      status: 403,
      reason: /may not publish/,
      tokenError: 'token has no publish rights',
    },
    {
      name: 'rights to topic A, publishing to B',
      token: () => mint(key, publisherClaims(TOPIC_A)),
      topics: [TOPIC_B],
      status: 403,
      reason: /may not publish to "https:\/\/example.com\/books\/b"/,
      tokenError: 'topic not allowed',
    },
    {
      name: 'rights to A, with an alternate topic B',
      token: () => mint(key, publisherClaims(TOPIC_A)),
      topics: [TOPIC_A, TOPIC_B],
      status: 403,
      reason: /books\/b/,
      tokenError: 'topic not allowed',
    },
    {
      name: 'a template not matching',
      token: () => mint(key, publisherClaims('https://example.com/users/{id}')),
      topics: ['https://example.com/books/1'],
      status: 403,
      reason: /may not publish/,
      tokenError: 'topic not allowed',
    },
    {
      name: '* rights on the reserved control topic',
      token: () => mint(key, publisherClaims('*')),
      topics: ['/.well-known/mercure/ssehub/control'],
      status: 400,
      reason: /reserved/,
    },
    {
      name: 'a cookie token without Origin (CSRF)',
      token: () => mint(key, publisherClaims('*')),
      topics: [TOPIC_A],
      status: 403,
      reason: /needs an Origin or Referer/,
      headers: (t) => ({ Cookie: `mercureAuthorization=${t}` }),
    },
    {
      name: 'a cookie token from a foreign Origin (CSRF)',
      token: () => mint(key, publisherClaims('*')),
      topics: [TOPIC_A],
      status: 403,
      reason: /origin http:\/\/evil.example is not allowed/,
      headers: (t) => ({ Cookie: `mercureAuthorization=${t}`, Origin: 'http://evil.example' }),
    },
    {
      name: 'a cookie token with a foreign Referer (CSRF)',
      token: () => mint(key, publisherClaims('*')),
      topics: [TOPIC_A],
      status: 403,
      reason: /evil.example/,
      headers: (t) => ({ Cookie: `mercureAuthorization=${t}`, Referer: 'http://evil.example/page' }),
    },
  ];
  for (const testCase of cases) {
    it(`refuses ${testCase.name}`, async () => {
      const token = await testCase.token();
      const headers = testCase.headers ? testCase.headers(token) : bearer(token);
      const before = await hub.hub.store.head();
      const answer = await publish(
        hub.hubUrl,
        { topic: testCase.topics, data: 'must not be stored' },
        headers,
      );
      expectRefused(answer, testCase.status, testCase.reason, testCase.tokenError);
      expect(await hub.hub.store.head()).toBe(before);
    });
  }

  it('accepts exactly the topics the selectors cover: exact, template, and alternates all covered', async () => {
    const token = await mint(key, publisherClaims(TOPIC_A, 'https://example.com/users/{id}'));
    await acceptedPublish({ topic: TOPIC_A, data: 'exact' }, bearer(token));
    await acceptedPublish(
      { topic: ['https://example.com/users/7', TOPIC_A], data: 'alternates' },
      bearer(token),
    );
  });

  it('accepts a cookie token from the hub itself and from an allowed origin', async () => {
    const token = await mint(key, publisherClaims('*'));
    const host = new URL(hub.url).host;
    await acceptedPublish(
      { topic: TOPIC_A, data: 'same origin' },
      { Cookie: `mercureAuthorization=${token}`, Origin: `http://${host}` },
    );
    await acceptedPublish(
      { topic: TOPIC_A, data: 'allowed origin' },
      { Cookie: `mercureAuthorization=${token}`, Origin: APP_ORIGIN },
    );
  });
});

describe('token sources and their precedence (header > query > cookie)', () => {
  const privateTopic = 'https://example.com/secret';
  const cases: {
    name: string;
    headers: (good: string) => Record<string, string>;
    query: (good: string) => Record<string, string>;
    status: number;
  }[] = [
    { name: 'header alone', headers: (good) => bearer(good), query: () => ({}), status: 200 },
    { name: 'query alone', headers: () => ({}), query: (good) => ({ authorization: good }), status: 200 },
    {
      name: 'cookie alone',
      headers: (good) => ({ Cookie: `theme=dark; mercureAuthorization=${good}` }),
      query: () => ({}),
      status: 200,
    },
    {
      name: 'good header hides a bad query and cookie',
      headers: (good) => ({ ...bearer(good), Cookie: 'mercureAuthorization=bad' }),
      query: () => ({ authorization: 'bad' }),
      status: 200,
    },
    {
      name: 'bad header hides a good query',
      headers: () => bearer('bad'),
      query: (good) => ({ authorization: good }),
      status: 401,
    },
    {
      name: 'good query hides a bad cookie',
      headers: () => ({ Cookie: 'mercureAuthorization=bad' }),
      query: (good) => ({ authorization: good }),
      status: 200,
    },
    {
      name: 'bad query hides a good cookie',
      headers: (good) => ({ Cookie: `mercureAuthorization=${good}` }),
      query: () => ({ authorization: 'bad' }),
      status: 401,
    },
  ];
  for (const testCase of cases) {
    it(`${testCase.name}: ${testCase.status}`, async () => {
      const good = await mint(key, subscriberClaims([privateTopic], 'source-test'), { expiresIn: later });
      const answer = await trySubscribe(
        hub.hubUrl,
        [privateTopic],
        testCase.headers(good),
        testCase.query(good),
      );
      if (testCase.status !== 200) {
        expectRefused(answer, 401, /malformed token/, 'malformed token');
        return;
      }
      // The token was really used: the private update reaches this subscriber.
      const stream = answer.stream as RawStream;
      const publisherToken = await mint(key, publisherClaims(privateTopic));
      const sent = await acceptedPublish(
        { topic: privateTopic, data: 'private', private: 'on' },
        bearer(publisherToken),
      );
      await stream.waitFor(() => stream.events.length === 1, 5000, 'private update');
      expect(stream.events[0]?.lastEventId).toBe(sent.body);
      stream.destroy();
    });
  }
});

describe('the namespaced claim', () => {
  it('accepts rights under "https://mercure.rocks/" as the Mercure reference hub does', async () => {
    const topic = 'https://example.com/namespaced';
    const subscriberToken = await mint(
      key,
      { 'https://mercure.rocks/': { subscribe: [topic] } },
      { expiresIn: later },
    );
    const answer = await trySubscribe(hub.hubUrl, [topic], bearer(subscriberToken));
    const stream = answer.stream as RawStream;
    const publisherToken = await mint(key, { 'https://mercure.rocks/': { publish: [topic] } });
    const sent = await acceptedPublish({ topic, data: 'namespaced', private: 'on' }, bearer(publisherToken));
    await stream.waitFor(() => stream.events.length === 1, 5000, 'private update');
    expect(stream.events[0]?.lastEventId).toBe(sent.body);
    stream.destroy();
  });
});

describe('oversized inputs', () => {
  it('refuses huge headers (431, Node’s own limit) and a huge body (413), storing nothing', async () => {
    const huge = await trySubscribe(hub.hubUrl, [TOPIC_A], bearer('a'.repeat(17_000)));
    expect(huge.status).toBe(431);
    expect(hub.hub.stats().subscribers).toBe(1);
    const token = await mint(key, publisherClaims('*'));
    const before = await hub.hub.store.head();
    const body = await publish(
      hub.hubUrl,
      { topic: TOPIC_A, data: 'x'.repeat(1024 * 1024 + 1) },
      bearer(token),
    );
    expectRefused(body, 413, /too large/);
    expect(await hub.hub.store.head()).toBe(before);
  });

  it('refuses a topic selector that is too long and too many topics', async () => {
    const token = await mint(key, subscriberClaims(['*']), { expiresIn: later });
    expectRefused(
      await trySubscribe(hub.hubUrl, ['t'.repeat(2049)], bearer(token)),
      400,
      /Topic too long: at most 2048/,
    );
    const many = Array.from({ length: 1001 }, (_, i) => `t${i}`);
    expectRefused(await trySubscribe(hub.hubUrl, many, bearer(token)), 400, /Too many topics: at most 1000/);
  });
});

describe('CORS', () => {
  it('answers a preflight from an allowed origin with the Mercure headers and credentials', async () => {
    const answer = await rawRequest(hub.hubUrl, {
      method: 'OPTIONS',
      headers: {
        Origin: APP_ORIGIN,
        'Access-Control-Request-Method': 'GET',
        'Access-Control-Request-Headers': 'authorization, cache-control, last-event-id',
      },
    });
    expect(answer.status).toBe(204);
    expect(answer.headers).toMatchObject({
      'access-control-allow-origin': APP_ORIGIN,
      'access-control-allow-credentials': 'true',
      'access-control-allow-methods': 'GET, POST, OPTIONS',
    });
    for (const name of ['authorization', 'cache-control', 'last-event-id']) {
      expect(answer.headers['access-control-allow-headers']).toContain(name);
    }
  });

  const refusedPreflights = [
    {
      name: 'a foreign origin',
      origin: 'http://evil.example',
      method: 'GET',
      headers: '',
      reason: /origin http:\/\/evil.example is not allowed/,
    },
    {
      name: 'a method other than GET or POST',
      origin: APP_ORIGIN,
      method: 'DELETE',
      headers: '',
      reason: /method DELETE/,
    },
    {
      name: 'an unexpected request header',
      origin: APP_ORIGIN,
      method: 'GET',
      headers: 'x-evil',
      reason: /header x-evil/,
    },
  ];
  for (const testCase of refusedPreflights) {
    it(`refuses a preflight with ${testCase.name}`, async () => {
      const answer = await rawRequest(hub.hubUrl, {
        method: 'OPTIONS',
        headers: {
          Origin: testCase.origin,
          'Access-Control-Request-Method': testCase.method,
          ...(testCase.headers ? { 'Access-Control-Request-Headers': testCase.headers } : {}),
        },
      });
      expectRefused(answer, 403, testCase.reason);
      expect(answer.headers['access-control-allow-origin']).toBeUndefined();
    });
  }

  it('lets an allowed origin read the stream and its Last-Event-ID, and a foreign one nothing', async () => {
    const token = await mint(key, subscriberClaims([]), { expiresIn: later });
    const allowed = await trySubscribe(hub.hubUrl, [TOPIC_A], { ...bearer(token), Origin: APP_ORIGIN });
    expect(allowed.status).toBe(200);
    expect(allowed.headers['access-control-allow-origin']).toBe(APP_ORIGIN);
    expect(allowed.headers['access-control-allow-credentials']).toBe('true');
    expect(allowed.headers['access-control-expose-headers']).toContain('Last-Event-ID');
    expect(allowed.headers.vary).toContain('Origin');
    allowed.stream?.destroy();
    const foreign = await trySubscribe(hub.hubUrl, [TOPIC_A], {
      ...bearer(token),
      Origin: 'http://evil.example',
    });
    expect(foreign.headers['access-control-allow-origin']).toBeUndefined();
    foreign.stream?.destroy();
  });

  it('lets an allowed origin read why it was refused (WWW-Authenticate is exposed)', async () => {
    const answer = await trySubscribe(hub.hubUrl, [TOPIC_A], { Origin: APP_ORIGIN });
    expect(answer.status).toBe(401);
    expect(answer.headers['access-control-allow-origin']).toBe(APP_ORIGIN);
    expect(answer.headers['access-control-expose-headers']).toContain('WWW-Authenticate');
  });
});

describe('public and private updates by right', () => {
  it('a token with rights to topic A reading topic B gets B’s public updates, never its private ones', async () => {
    const token = await mint(key, subscriberClaims([TOPIC_A], 'reader-a'), { expiresIn: later });
    const answer = await trySubscribe(hub.hubUrl, [TOPIC_B], bearer(token));
    const stream = answer.stream as RawStream;
    const publisherToken = await mint(key, publisherClaims('*'));
    await acceptedPublish({ topic: TOPIC_B, data: 'private b', private: 'on' }, bearer(publisherToken));
    const shown = await acceptedPublish({ topic: TOPIC_B, data: 'public b' }, bearer(publisherToken));
    await stream.waitFor(() => stream.events.length >= 1, 5000, 'public update');
    // The private one was published first: had it been delivered, it would come first.
    expect(stream.events.map((event) => [event.data, event.lastEventId])).toEqual([['public b', shown.body]]);
    stream.destroy();
  });
});
