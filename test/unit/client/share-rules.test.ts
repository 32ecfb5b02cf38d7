import { describe, expect, it } from 'vitest';
import { readClaims, rightsFingerprint } from '../../../src/client/share-rights.js';
import { selectorMatches, unionOfSelectors } from '../../../src/client/share-topics.js';

const jwt = (payload: unknown) =>
  `eyJhbGciOiJIUzI1NiJ9.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.signature`;

describe('share rights: which tabs may share a connection', () => {
  it('equal rights in different tokens give one fingerprint; selector order and duplicates do not matter', () => {
    const a = jwt({ sub: 'u1', iat: 1, exp: 10, mercure: { subscribe: ['b', 'a'] } });
    const b = jwt({ sub: 'u1', iat: 5, exp: 99, mercure: { subscribe: ['a', 'b', 'a'] } });
    expect(rightsFingerprint(a, undefined)).toBe(rightsFingerprint(b, undefined));
  });

  it('another subject, other selectors, a payload or other headers give another fingerprint', () => {
    const base = rightsFingerprint(jwt({ sub: 'u1', mercure: { subscribe: ['a'] } }), undefined);
    for (const other of [
      rightsFingerprint(jwt({ sub: 'u2', mercure: { subscribe: ['a'] } }), undefined),
      rightsFingerprint(jwt({ sub: 'u1', mercure: { subscribe: ['a', 'b'] } }), undefined),
      rightsFingerprint(jwt({ sub: 'u1', mercure: { subscribe: ['a'], payload: { role: 'x' } } }), undefined),
      rightsFingerprint(jwt({ sub: 'u1', mercure: { subscribe: ['a'] } }), { 'X-Tenant': 't' }),
      rightsFingerprint(undefined, undefined),
    ]) {
      expect(other).not.toBe(base);
    }
  });

  it('draft-08 authorization_details are part of the rights: different grants never share', () => {
    const grant = (match: string) => ({
      sub: 'u1',
      authorization_details: [
        { type: 'https://mercure.rocks/authorization-detail', actions: ['subscribe'], topics: [{ match }] },
      ],
    });
    expect(rightsFingerprint(jwt(grant('a')), undefined)).toBe(rightsFingerprint(jwt(grant('a')), undefined));
    const fingerprints = [
      rightsFingerprint(jwt(grant('a')), undefined),
      rightsFingerprint(jwt(grant('b')), undefined),
      rightsFingerprint(jwt({ sub: 'u1' }), undefined),
    ];
    expect(new Set(fingerprints).size).toBe(fingerprints.length);
  });

  it('the namespaced claim reads like the short one', () => {
    expect(readClaims(jwt({ 'https://mercure.rocks/': { subscribe: ['a'] } }))).toEqual(
      readClaims(jwt({ mercure: { subscribe: ['a'] } })),
    );
  });

  it('a token whose claims cannot be read is not shared (undefined), whatever it is', () => {
    expect(rightsFingerprint('an-opaque-session-token', undefined)).toBeUndefined();
    expect(rightsFingerprint('a.b.c', undefined)).toBeUndefined();
    expect(rightsFingerprint(jwt('not an object'), undefined)).toBeUndefined();
  });
});

describe('share topics: the union and per-tab routing', () => {
  it('the union is sorted and without duplicates', () => {
    expect(
      unionOfSelectors([
        ['b', 'a'],
        ['a', 'c'],
      ]),
    ).toEqual(['a', 'b', 'c']);
  });

  it.each([
    ['*', 'https://example.com/x', true],
    ['https://example.com/x', 'https://example.com/x', true],
    ['https://example.com/x', 'https://example.com/y', false],
    ['https://example.com/books/{id}', 'https://example.com/books/1', true],
    ['https://example.com/books/{id}', 'https://example.com/books/1/chapters', false],
    ['https://example.com/{+path}', 'https://example.com/a/b/c', true],
    ['https://example.com/users{?u}', 'https://example.com/users?u=1', true],
    ['https://example.com/books/{id}', 'https://example.com/authors/1', false],
    ['a.b', 'aXb', false],
  ])('selector %s matches %s: %s', (selector, topic, expected) => {
    expect(selectorMatches(selector, topic)).toBe(expected);
  });
});
