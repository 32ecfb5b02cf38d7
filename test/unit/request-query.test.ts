import { describe, expect, it } from 'vitest';
import { queryOf } from '../../src/http/request.js';

/**
 * `queryOf` reads a request target's query without building a URL (src/http/request.ts): it must
 * give what `new URL(target, base).searchParams` gives, for every target a server can receive.
 */
const TARGETS = [
  '/.well-known/mercure?topic=https%3A%2F%2Fexample.com%2Fbooks%2F1&topic=*',
  '/.well-known/mercure?topic=a+b&topic=a%20b&topic=a%2Bb',
  '/.well-known/mercure?topic=x#fragment&topic=y',
  '/.well-known/mercure?topic=%E2%9C%93&topic=\u00e9&topic=%zz&topic=100%',
  '/.well-known/mercure?topic=a&&=&topic&topic=&lastEventID=urn%3Auuid%3A1',
  '/.well-known/mercure?topic="<>`{}|\\^',
  '/.well-known/mercure?',
  '/.well-known/mercure',
  '/.well-known/mercure?topic=a?b=c;d',
];

describe('queryOf', () => {
  it.each(TARGETS)('reads %s as the URL parser does', (target) => {
    const expected = [...new URL(target, 'http://hub.invalid').searchParams];
    expect([...queryOf({ url: target, headers: {} })]).toEqual(expected);
  });

  it('reads no query from a request without a target', () => {
    expect([...queryOf({ headers: {} })]).toEqual([]);
  });
});
