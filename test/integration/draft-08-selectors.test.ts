import { afterEach, describe, expect, it } from 'vitest';
import { openStream, publish, rawRequest, startTestHub } from '../helpers/hub.js';
import type { RawStream, TestHub } from '../helpers/hub.js';
import { HS_SECRET, bearer, hmacKey, mint, publisherClaims } from '../helpers/tokens.js';

/**
 * Draft-08 selectors over real HTTP: `match=` and `match_exact=` are byte for byte, never templates;
 * `match_urlpattern=` is a WHATWG URL Pattern; `topic=` keeps draft-07's template reading. Each
 * subscription receives what it matches and nothing else, and a URL Pattern in the token's grant
 * decides private updates as a template grant does.
 */
let hub: TestHub | undefined;
afterEach(async () => {
  await hub?.close(0);
  hub = undefined;
});

const BOOKS = 'https://example.net/books/{id}';
const key = hmacKey();

async function publishAll(hubUrl: string, token: string, updates: { topic: string; private?: boolean }[]) {
  const ids: string[] = [];
  for (const update of updates) {
    const fields: Record<string, string> = { topic: update.topic, data: update.topic };
    if (update.private) fields.private = 'on';
    const answer = await publish(hubUrl, fields, bearer(token));
    expect(answer.status, update.topic).toBe(200);
    ids.push(answer.body);
  }
  return ids;
}

/** Publishes a sentinel every stream subscribes to, so "nothing else arrived" is known, not waited for. */
async function dataUntilSentinel(stream: RawStream): Promise<string[]> {
  await stream.waitFor(() => stream.events.some((event) => event.data === 'urn:sentinel'));
  return stream.events.map((event) => event.data).filter((data) => data !== 'urn:sentinel');
}

describe('draft-08 selectors', () => {
  it('match= is exact, match_urlpattern= a URL Pattern, topic= a template: each receives what it matches', async () => {
    hub = await startTestHub({ config: { jwtKey: HS_SECRET, allowAnonymous: true } });
    const publisher = await mint(key, publisherClaims('*'));
    const sentinel = `&topic=urn%3Asentinel`;
    const exact = await openStream(`${hub.hubUrl}?match=${encodeURIComponent(BOOKS)}${sentinel}`);
    const exactAlias = await openStream(`${hub.hubUrl}?match_exact=${encodeURIComponent(BOOKS)}${sentinel}`);
    const pattern = await openStream(
      `${hub.hubUrl}?match_urlpattern=${encodeURIComponent('https://example.net/books/:id')}${sentinel}`,
    );
    const template = await openStream(`${hub.hubUrl}?topic=${encodeURIComponent(BOOKS)}${sentinel}`);
    await publishAll(hub.hubUrl, publisher, [
      { topic: 'https://example.net/books/1' },
      { topic: BOOKS },
      { topic: 'https://example.net/books/1/reviews' },
      { topic: 'https://example.org/books/2' },
      { topic: 'urn:sentinel' },
    ]);
    expect(await dataUntilSentinel(exact)).toEqual([BOOKS]);
    expect(await dataUntilSentinel(exactAlias)).toEqual([BOOKS]);
    // A URL Pattern reads `{id}` as literal text in a path segment, so the template itself matches.
    expect(await dataUntilSentinel(pattern)).toEqual(['https://example.net/books/1', BOOKS]);
    expect(await dataUntilSentinel(template)).toEqual(['https://example.net/books/1', BOOKS]);
    for (const stream of [exact, exactAlias, pattern, template]) stream.destroy();
  });

  it('a URL Pattern in the token grants private updates of the topics it matches, and no others', async () => {
    hub = await startTestHub({ config: { jwtKey: HS_SECRET } });
    const publisher = await mint(key, publisherClaims('*'));
    const subscriber = await mint(key, {
      mercure: { subscribe: [{ match: 'https://example.net/users/:name/inbox', match_type: 'urlpattern' }] },
    });
    const stream = await openStream(
      `${hub.hubUrl}?match_urlpattern=${encodeURIComponent('https://example.net/users/:name/*')}&topic=urn%3Asentinel`,
      bearer(subscriber),
    );
    await publishAll(hub.hubUrl, publisher, [
      { topic: 'https://example.net/users/ann/inbox', private: true },
      { topic: 'https://example.net/users/ann/outbox', private: true },
      { topic: 'https://example.net/users/bob/outbox' },
      { topic: 'https://example.net/users/bob/inbox/x', private: true },
      { topic: 'urn:sentinel' },
    ]);
    expect(await dataUntilSentinel(stream)).toEqual([
      'https://example.net/users/ann/inbox',
      'https://example.net/users/bob/outbox',
    ]);
    stream.destroy();
  });

  it('exact match_type grants in the token are byte for byte', async () => {
    hub = await startTestHub({ config: { jwtKey: HS_SECRET } });
    const publisher = await mint(key, publisherClaims('*'));
    const subscriber = await mint(key, { mercure: { subscribe: [{ match: BOOKS, match_type: 'exact' }] } });
    const stream = await openStream(`${hub.hubUrl}?topic=*`, bearer(subscriber));
    await publishAll(hub.hubUrl, publisher, [
      { topic: 'https://example.net/books/1', private: true },
      { topic: BOOKS, private: true },
      { topic: 'urn:sentinel' },
    ]);
    expect(await dataUntilSentinel(stream)).toEqual([BOOKS]);
    stream.destroy();
  });

  it('publish grants accept match_type too', async () => {
    hub = await startTestHub({ config: { jwtKey: HS_SECRET } });
    const publisher = await mint(key, {
      mercure: { publish: [{ match: 'https://example.net/books/:id', match_type: 'urlpattern' }] },
    });
    const allowed = await publish(hub.hubUrl, { topic: 'https://example.net/books/1' }, bearer(publisher));
    expect(allowed.status).toBe(200);
    const refused = await publish(hub.hubUrl, { topic: 'https://example.net/authors/1' }, bearer(publisher));
    expect(refused.status).toBe(403);
  });

  it('refuses, with 400 and one line, URL Patterns that could backtrack or are not patterns', async () => {
    hub = await startTestHub();
    const cases: [string, RegExp][] = [
      ['/books/:id', /expected an absolute URL pattern/],
      ['https://example.net/:id(\\d+)', /regular-expression groups are not accepted/],
      ['https://example.net/(a+)+', /regular-expression groups are not accepted/],
      ['https://example.net/*/*/x', /"\*" wildcard is allowed only at the end/],
      ['https://example.net/:a-:b', /at most one group between two "\/"/],
      ['https://example.net/{a}?{a}?{a}?', /modifiers/],
      ['https://example.net/:id+', /modifiers/],
      ['https://example.net/x?a=:a&b=:b', /at most one group per component/],
    ];
    for (const [pattern, reason] of cases) {
      const answer = await rawRequest(`${hub.hubUrl}?match_urlpattern=${encodeURIComponent(pattern)}`);
      expect(answer.status, pattern).toBe(400);
      expect(answer.body, pattern).toMatch(reason);
      expect(answer.body.trim().split('\n')).toHaveLength(1);
    }
    expect(hub.hub.stats().subscribers).toBe(0);
  });

  it('refuses more than 100 URL Patterns in one subscription, with 400, before compiling any', async () => {
    hub = await startTestHub();
    const patterns = (count: number) =>
      Array.from(
        { length: count },
        (_, i) => `match_urlpattern=${encodeURIComponent(`https://example.net/${i}/:id`)}`,
      ).join('&');
    const refused = await rawRequest(`${hub.hubUrl}?${patterns(101)}`);
    expect(refused.status).toBe(400);
    expect(refused.body).toMatch(/Too many "match_urlpattern" parameters: at most 100/);
    expect(hub.hub.stats().subscribers).toBe(0);
    const stream = await openStream(`${hub.hubUrl}?${patterns(100)}`);
    expect(stream.response.statusCode).toBe(200);
    stream.destroy();
  });

  it('refuses a token whose urlpattern grant is refused, or whose match_type is unknown, with 401', async () => {
    hub = await startTestHub({ config: { jwtKey: HS_SECRET } });
    const cases: [unknown, RegExp][] = [
      [[{ match: 'https://x/:a(\\d+)', match_type: 'urlpattern' }], /regular-expression groups/],
      [[{ match: 'x', match_type: 'regex' }], /"match_type" must be one of/],
      [[{ match_type: 'exact' }], /needs a non-empty "match"/],
    ];
    for (const [subscribe, reason] of cases) {
      const token = await mint(key, { mercure: { subscribe } });
      const answer = await rawRequest(`${hub.hubUrl}?topic=x`, { headers: bearer(token) });
      expect(answer.status).toBe(401);
      expect(answer.body).toMatch(reason);
    }
  });
});
