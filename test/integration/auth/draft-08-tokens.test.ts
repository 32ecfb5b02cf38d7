import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hub, MemoryStore } from 'ssehub';
import { JwtAuthorizer, keyVerifier, parseVerificationKey } from 'ssehub/auth';
import { createFetchHandler } from 'ssehub/fetch';
import { openStream, publish, startTestHub } from '../../helpers/hub.js';
import type { RawStream } from '../../helpers/hub.js';
import { expectRefused, trySubscribe } from '../../helpers/auth-answers.js';
import type { Answer } from '../../helpers/auth-answers.js';
import {
  HS_SECRET,
  MERCURE_DETAIL,
  bearer,
  detail,
  hmacKey,
  mint,
  unsignedToken,
} from '../../helpers/tokens.js';
import type { MintOptions } from '../../helpers/tokens.js';
import { jwtVerify } from 'jose';
import type { JWTPayload } from 'jose';
import type { TokenVerifier } from 'ssehub/auth';
import type { HttpError } from '../../../src/http/errors.js';

/**
 * Mercure draft-08 (1.0) authorization, through both adapters (the standalone hub's node:http
 * handlers, configured by --jwt-issuer/--jwt-audience, and the Fetch handler with the authorizer's
 * `issuer`/`audience` options): RFC 9068 access tokens carrying RFC 9396 `authorization_details`
 * publish and subscribe; every token the profile refuses gets 401 and a reason, and changes nothing
 * (a watcher granted everything sees exactly the accepted updates); the draft-08 cookie is read with
 * the draft-07 one's precedence and CSRF checks.
 */
const ISSUER = 'https://auth.example';
const AUDIENCE = 'https://hub.example/.well-known/mercure';
const APP_ORIGIN = 'http://app.example';
const key = hmacKey();
const later = 3600;

interface Target {
  hubUrl: string;
  close(): Promise<void>;
}

interface Rules {
  issuer?: string;
  audience?: string;
}

const ADAPTERS: { name: string; start(rules: Rules): Promise<Target> }[] = [
  {
    name: 'node:http (standalone hub)',
    async start(rules) {
      const hub = await startTestHub({
        config: {
          jwtKey: HS_SECRET,
          jwtIssuer: rules.issuer === undefined ? undefined : [rules.issuer],
          jwtAudience: rules.audience === undefined ? undefined : [rules.audience],
          corsOrigins: [APP_ORIGIN],
          demo: false,
          publishRatePerSecond: 0,
        },
      });
      return { hubUrl: hub.hubUrl, close: () => hub.close(0) };
    },
  },
  {
    name: 'Fetch handler',
    async start(rules) {
      const hub = new Hub({ store: new MemoryStore({ historySize: 1000 }) });
      const verifier = keyVerifier(parseVerificationKey(HS_SECRET, 'test key', ['HS256']), {
        leewaySeconds: 5,
      });
      const authorizer = new JwtAuthorizer({
        publisher: verifier,
        subscriber: verifier,
        issuer: rules.issuer,
        audience: rules.audience,
        allowsCredentialsFrom: (origin) => origin === APP_ORIGIN,
      });
      const handler = createFetchHandler(hub, { authorizer, corsOrigins: [APP_ORIGIN] });
      const server = serve({ fetch: handler, port: 0, hostname: '127.0.0.1' }) as Server;
      if (!server.listening) await new Promise<void>((resolve) => server.once('listening', resolve));
      const { port } = server.address() as AddressInfo;
      return {
        hubUrl: `http://127.0.0.1:${port}/.well-known/mercure`,
        close: async () => {
          server.closeAllConnections();
          await new Promise((resolve) => server.close(resolve));
          await hub.close();
        },
      };
    },
  },
];

/** A draft-08 access token: `typ: at+jwt`, the hub's issuer and audience, an expiry. */
function accessToken(claims: JWTPayload, options: MintOptions = {}): Promise<string> {
  return mint(
    key,
    { iss: ISSUER, aud: AUDIENCE, ...claims },
    { typ: 'at+jwt', expiresIn: later, ...options },
  );
}

const grants = (...details: unknown[]): JWTPayload => ({ authorization_details: details });
const everything = (actions: string[]) => grants(detail(actions, [{ match: '*' }]));

const BOOKS = 'https://example.com/books';

/** Publishes a sentinel the stream subscribes to, so "nothing else arrived" is known, not waited for. */
async function dataUntilSentinel(stream: RawStream): Promise<string[]> {
  await stream.waitFor(() => stream.events.some((event) => event.data === 'urn:sentinel'));
  return stream.events.map((event) => event.data).filter((data) => data !== 'urn:sentinel');
}

const urlPattern = (match: string) => ({ match, match_type: 'urlpattern' });

/** Tokens the profile refuses, each with the `error_description` a client gets. */
const REFUSED: { name: string; token: () => Promise<string> | string; reason: RegExp; tokenError: string }[] =
  [
    {
      name: 'a wrong issuer',
      token: () => accessToken({ ...everything(['publish', 'subscribe']), iss: 'https://evil.example' }),
      reason: /wrong issuer/,
      tokenError: 'wrong issuer',
    },
    {
      name: 'no issuer',
      token: () =>
        mint(
          key,
          { aud: AUDIENCE, ...everything(['publish', 'subscribe']) },
          { typ: 'at+jwt', expiresIn: later },
        ),
      reason: /wrong issuer/,
      tokenError: 'wrong issuer',
    },
    {
      name: 'a wrong audience',
      token: () =>
        accessToken({ ...everything(['publish', 'subscribe']), aud: ['https://other-hub.example'] }),
      reason: /wrong audience/,
      tokenError: 'wrong audience',
    },
    {
      name: 'typ JWT where access tokens are required',
      token: () => accessToken(everything(['publish', 'subscribe']), { typ: 'JWT' }),
      reason: /wrong token type/,
      tokenError: 'wrong token type',
    },
    {
      name: 'no typ where access tokens are required',
      token: () =>
        mint(
          key,
          { iss: ISSUER, aud: AUDIENCE, ...everything(['publish', 'subscribe']) },
          { expiresIn: later },
        ),
      reason: /wrong token type/,
      tokenError: 'wrong token type',
    },
    {
      name: 'an ID token (typ of another purpose)',
      token: () => accessToken(everything(['publish', 'subscribe']), { typ: 'id_token+jwt' }),
      reason: /wrong token type/,
      tokenError: 'wrong token type',
    },
    {
      name: 'an expired access token',
      token: () => accessToken(everything(['publish', 'subscribe']), { expiresIn: -3600 }),
      reason: /token expired/,
      tokenError: 'token expired',
    },
    {
      name: 'an access token without exp',
      token: () =>
        mint(key, { iss: ISSUER, aud: AUDIENCE, ...everything(['publish', 'subscribe']) }, { typ: 'at+jwt' }),
      reason: /expiry required/,
      tokenError: 'expiry required',
    },
    {
      name: 'alg none',
      token: () => unsignedToken({ iss: ISSUER, aud: AUDIENCE, ...everything(['publish', 'subscribe']) }),
      reason: /algorithm not allowed/,
      tokenError: 'algorithm not allowed',
    },
    {
      name: 'authorization_details not an array',
      token: () => accessToken({ authorization_details: detail(['publish', 'subscribe'], [{ match: '*' }]) }),
      reason: /"authorization_details" must be an array/,
      tokenError: 'invalid claims',
    },
    {
      name: 'an entry that is not an object',
      token: () => accessToken(grants('publish')),
      reason: /each entry must be an object/,
      tokenError: 'invalid claims',
    },
    {
      name: 'an entry without a type',
      token: () => accessToken(grants({ actions: ['publish'], topics: [{ match: '*' }] })),
      reason: /needs a string "type"/,
      tokenError: 'invalid claims',
    },
    {
      name: 'an unknown action',
      token: () => accessToken(grants(detail(['publish', 'admin'], [{ match: '*' }]))),
      reason: /unknown action "admin"/,
      tokenError: 'invalid claims',
    },
    {
      name: 'no actions',
      token: () => accessToken(grants(detail([], [{ match: '*' }]))),
      reason: /actions" must be a non-empty array/,
      tokenError: 'invalid claims',
    },
    {
      name: 'no topics',
      token: () => accessToken(grants(detail(['subscribe'], []))),
      reason: /topics" must be a non-empty array/,
      tokenError: 'invalid claims',
    },
    {
      name: 'a bare-string topic (draft-07 shape)',
      token: () => accessToken(grants({ type: MERCURE_DETAIL, actions: ['subscribe'], topics: ['*'] })),
      reason: /each topic must be a \{ "match", "match_type" \} object/,
      tokenError: 'invalid claims',
    },
    {
      name: 'a bad match_type',
      token: () => accessToken(grants(detail(['subscribe'], [{ match: BOOKS, match_type: 'regex' }]))),
      reason: /"match_type" must be one of/,
      tokenError: 'invalid claims',
    },
    {
      name: 'a bad URL pattern',
      token: () => accessToken(grants(detail(['subscribe'], [urlPattern('https://example.com/(unclosed')]))),
      reason: /authorization_details\[\]\.topics/,
      tokenError: 'invalid claims',
    },
    {
      name: 'a topic without match',
      token: () => accessToken(grants(detail(['subscribe'], [{ match_type: 'exact' } as never]))),
      reason: /needs a non-empty "match"/,
      tokenError: 'invalid claims',
    },
  ];

describe.each(ADAPTERS)('draft-08 access tokens through the $name', ({ start }) => {
  let target: Target;
  let watcher: RawStream;
  const accepted: string[] = [];

  beforeAll(async () => {
    target = await start({ issuer: ISSUER, audience: AUDIENCE });
    watcher = await openStream(
      `${target.hubUrl}?match=urn%3Asentinel&match_urlpattern=${encodeURIComponent('https://example.com/*')}`,
      bearer(await accessToken(everything(['subscribe']))),
    );
    expect(watcher.response.statusCode).toBe(200);
  });

  afterAll(async () => {
    // Nothing refused was stored: the watcher, granted everything, saw exactly what was accepted.
    await watcher.waitFor(() => watcher.events.length >= accepted.length, 5000, 'all accepted updates');
    expect(watcher.events.map((event) => event.lastEventId)).toEqual(accepted);
    watcher.destroy();
    await target.close();
  });

  async function acceptedPublish(fields: Record<string, string | string[]>, headers: Record<string, string>) {
    const answer = await publish(target.hubUrl, fields, headers);
    expect(answer, answer.body).toMatchObject({ status: 200 });
    accepted.push(answer.body);
    return answer;
  }

  it('publishes and subscribes: private updates granted by a URL Pattern reach the subscriber, others do not', async () => {
    const subscriber = await accessToken(
      grants(
        { type: 'https://payments.example/detail', topics: 'acme', actions: { read: true } },
        detail(['subscribe'], [urlPattern(`${BOOKS}/:id/reviews`)], { user: 'ann' }),
      ),
    );
    const stream = await openStream(
      `${target.hubUrl}?match_urlpattern=${encodeURIComponent(`${BOOKS}/*`)}&match=urn%3Asentinel`,
      bearer(subscriber),
    );
    expect(stream.response.statusCode).toBe(200);
    // Two entries add up: one grants the books, the other the sentinel.
    const publisher = bearer(
      await accessToken(
        grants(
          detail(['publish'], [urlPattern(`${BOOKS}/*`)]),
          detail(['publish'], [{ match: 'urn:sentinel' }]),
        ),
      ),
    );
    await acceptedPublish({ topic: `${BOOKS}/1/reviews`, data: 'granted', private: 'on' }, publisher);
    await acceptedPublish({ topic: `${BOOKS}/1/secrets`, data: 'not granted', private: 'on' }, publisher);
    await acceptedPublish({ topic: `${BOOKS}/2`, data: 'public' }, publisher);
    await acceptedPublish({ topic: 'urn:sentinel', data: 'urn:sentinel' }, publisher);
    expect(await dataUntilSentinel(stream)).toEqual(['granted', 'public']);
    stream.destroy();
    const outside = await publish(target.hubUrl, { topic: 'https://example.com/news', data: 'x' }, publisher);
    expectRefused(outside, 403, /may not publish to "https:\/\/example.com\/news"/, 'topic not allowed');
  });

  it('accepts typ at+jwt spelled as a media type, in any case', async () => {
    for (const typ of ['application/at+jwt', 'AT+JWT', 'Application/At+Jwt']) {
      const answer = await trySubscribe(
        target.hubUrl,
        ['urn:x'],
        bearer(await accessToken(everything(['subscribe']), { typ })),
      );
      expect(answer.status, typ).toBe(200);
      answer.stream?.destroy();
    }
  });

  it('reads a token carrying both claims from authorization_details alone', async () => {
    const token = await accessToken({
      mercure: { publish: ['*'], subscribe: ['*'] },
      ...grants(detail(['subscribe'], [{ match: `${BOOKS}/1` }])),
    });
    const refused = await publish(target.hubUrl, { topic: `${BOOKS}/1`, data: 'x' }, bearer(token));
    expectRefused(refused, 403, /may not publish/, 'token has no publish rights');
    const onlyForeign = await accessToken({
      mercure: { publish: ['*'] },
      ...grants({ type: 'https://payments.example/detail', actions: ['pay'] }),
    });
    const alsoRefused = await publish(target.hubUrl, { topic: `${BOOKS}/1`, data: 'x' }, bearer(onlyForeign));
    expectRefused(alsoRefused, 403, /may not publish/, 'token has no publish rights');
  });

  for (const action of ['subscribe', 'publish'] as const) {
    describe(`refuses with 401 and a reason, to ${action}`, () => {
      it.each(REFUSED)('$name', async ({ token, reason, tokenError }) => {
        const headers = bearer(await token());
        const answer: Answer =
          action === 'subscribe'
            ? await trySubscribe(target.hubUrl, ['urn:x'], headers)
            : await publish(target.hubUrl, { topic: `${BOOKS}/1`, data: 'refused' }, headers);
        expectRefused(answer, 401, reason, tokenError);
      });
    });
  }

  describe('the __Secure-mercure_access_token cookie', () => {
    const COOKIE = '__Secure-mercure_access_token';

    it('authorizes a subscriber, and wins over mercureAuthorization (both ways)', async () => {
      const good = await accessToken(everything(['subscribe']));
      const alone = await trySubscribe(target.hubUrl, ['urn:x'], { Cookie: `${COOKIE}=${good}` });
      expect(alone.status).toBe(200);
      alone.stream?.destroy();
      const overLegacy = await trySubscribe(target.hubUrl, ['urn:x'], {
        Cookie: `mercureAuthorization=not-a-jwt; ${COOKIE}=${good}`,
      });
      expect(overLegacy.status).toBe(200);
      overLegacy.stream?.destroy();
      const expired = await accessToken(everything(['subscribe']), { expiresIn: -3600 });
      const hidesLegacy = await trySubscribe(target.hubUrl, ['urn:x'], {
        Cookie: `${COOKIE}=${expired}; mercureAuthorization=${good}`,
      });
      expectRefused(hidesLegacy, 401, /Token refused \(cookie\): token expired/, 'token expired');
    });

    it('ranks below the Authorization header and the authorization query parameter', async () => {
      const good = await accessToken(everything(['subscribe']));
      const header = await trySubscribe(target.hubUrl, ['urn:x'], {
        Authorization: 'Bearer not-a-jwt',
        Cookie: `${COOKIE}=${good}`,
      });
      expectRefused(header, 401, /Token refused \(header\)/, 'malformed token');
      const query = await trySubscribe(
        target.hubUrl,
        ['urn:x'],
        { Cookie: `${COOKIE}=${good}` },
        { authorization: 'x' },
      );
      expectRefused(query, 401, /Token refused \(query\)/, 'malformed token');
    });

    it('is checked against CSRF like mercureAuthorization: a publish needs an allowed Origin or Referer', async () => {
      const cookie = { Cookie: `${COOKIE}=${await accessToken(everything(['publish']))}` };
      const fields = { topic: `${BOOKS}/cookie`, data: 'x' };
      const foreign = await publish(target.hubUrl, fields, { ...cookie, Origin: 'https://evil.example' });
      expectRefused(foreign, 403, /cookie-authorized POST from origin https:\/\/evil.example is not allowed/);
      const none = await publish(target.hubUrl, fields, cookie);
      expectRefused(none, 403, /needs an Origin or Referer header/);
      const badReferer = await publish(target.hubUrl, fields, {
        ...cookie,
        Referer: 'https://evil.example/page',
      });
      expectRefused(badReferer, 403, /not allowed/);
      await acceptedPublish(fields, { ...cookie, Origin: APP_ORIGIN });
      await acceptedPublish(fields, { ...cookie, Referer: `${APP_ORIGIN}/page` });
    });
  });
});

describe.each(ADAPTERS)('without an issuer or audience configured, through the $name', ({ start }) => {
  let target: Target;
  beforeAll(async () => {
    target = await start({});
  });
  afterAll(() => target.close());

  it('draft-07 tokens keep working (no typ, or JWT), and draft-08 ones too', async () => {
    const draft07 = { mercure: { publish: ['*'] } };
    const cases: [string, Promise<string>][] = [
      ['no typ', mint(key, draft07)],
      ['typ JWT', mint(key, draft07, { typ: 'JWT' })],
      ['at+jwt without iss or aud', mint(key, everything(['publish']), { typ: 'at+jwt', expiresIn: later })],
      ['draft-08 grants without typ', mint(key, everything(['publish']))],
    ];
    for (const [name, token] of cases) {
      const answer = await publish(target.hubUrl, { topic: `${BOOKS}/1`, data: name }, bearer(await token));
      expect(answer.status, `${name}: ${answer.body}`).toBe(200);
    }
  });

  it('still refuses an at+jwt token without exp, and a typ of another purpose', async () => {
    const noExp = await publish(
      target.hubUrl,
      { topic: `${BOOKS}/1`, data: 'x' },
      bearer(await mint(key, everything(['publish']), { typ: 'at+jwt' })),
    );
    expectRefused(noExp, 401, /expiry required/, 'expiry required');
    const logout = await publish(
      target.hubUrl,
      { topic: `${BOOKS}/1`, data: 'x' },
      bearer(await mint(key, { mercure: { publish: ['*'] } }, { typ: 'logout+jwt' })),
    );
    expectRefused(logout, 401, /wrong token type/, 'wrong token type');
  });

  it('caps a mercure claim at 1000 selectors', async () => {
    const token = await mint(key, {
      mercure: { subscribe: Array.from({ length: 1001 }, (_, i) => `t${i}`) },
    });
    const answer = await trySubscribe(target.hubUrl, ['urn:x'], bearer(token));
    expectRefused(answer, 401, /"mercure.subscribe": at most 1000 topic selectors/, 'invalid claims');
  });
});

describe('the cap on granted selectors', () => {
  // The built-in verifiers refuse tokens over 16 KiB (Node refuses such headers with 431 anyway),
  // which keeps a token under about 850 topics; a verifier of the user's own may take bigger ones,
  // and the cap holds for them too.
  const secret = new TextEncoder().encode(HS_SECRET);
  const unboundedVerifier: TokenVerifier = {
    verify: async (token) => (await jwtVerify(token, secret, { algorithms: ['HS256'] })).payload,
  };
  const authorizer = new JwtAuthorizer({
    publisher: unboundedVerifier,
    subscriber: unboundedVerifier,
    issuer: ISSUER,
    audience: AUDIENCE,
  });
  const request = (token: string) => ({
    method: 'GET',
    url: '/.well-known/mercure?match=urn%3Ax',
    headers: { authorization: `Bearer ${token}`, host: 'hub.example' },
  });
  const topics = (from: number, count: number) =>
    Array.from({ length: count }, (_, index) => ({
      match: `https://example.com/t/${from + index}/:id`,
      match_type: 'urlpattern',
    }));

  it('grants 1000 topics over several entries, and refuses 1001 with 401 before compiling any', async () => {
    const atCap = await accessToken(
      grants(detail(['subscribe'], topics(0, 600)), detail(['subscribe'], topics(600, 400))),
    );
    const grant = await authorizer.authorizeSubscriber(request(atCap));
    expect(grant.privateTopics).toHaveLength(1000);
    // The 1001st topic is an invalid pattern: the count refuses the token before it is looked at.
    const overCap = await accessToken(
      grants(
        detail(['subscribe'], topics(0, 600)),
        detail(['publish'], [...topics(600, 400), urlPattern('https://example.com/(unclosed')]),
      ),
    );
    const refusal = await authorizer.authorizeSubscriber(request(overCap)).then(
      () => undefined,
      (error: unknown) => error as HttpError,
    );
    expect(refusal).toMatchObject({
      status: 401,
      message: 'Token refused: "authorization_details": at most 1000 topics over all Mercure entries.',
    });
  });
});
