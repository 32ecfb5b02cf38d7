import { describe, expect, it } from 'vitest';
import { VerifiedTokenCache } from '../../src/auth/verified-tokens.js';

describe('the verified-token cache', () => {
  it('holds at most its capacity, forgetting the oldest first', () => {
    const cache = new VerifiedTokenCache(3);
    for (const token of ['a.b.1', 'a.b.2', 'a.b.3', 'a.b.4']) cache.set(token, { sub: token }, 1000);
    expect(cache.size).toBe(3);
    expect(cache.get('a.b.1', 0)).toBeUndefined();
    expect(cache.get('a.b.4', 0)).toEqual({ sub: 'a.b.4' });
    for (let i = 0; i < 10_000; i++) cache.set(`flood.${i}`, {}, 1000);
    expect(cache.size).toBe(3);
  });

  it('answers a token only before the time it was kept until, then forgets it', () => {
    const cache = new VerifiedTokenCache(10);
    cache.set('t.o.k', { sub: 's' }, 5000);
    expect(cache.get('t.o.k', 4999)).toEqual({ sub: 's' });
    expect(cache.get('t.o.k', 5000)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('is keyed on the exact bytes: another spelling of a token is a miss', () => {
    const cache = new VerifiedTokenCache(10);
    cache.set('eyJh.eyJz.sig', { sub: 's' }, 5000);
    expect(cache.get('eyJh.eyJz.sig ', 0)).toBeUndefined();
    expect(cache.get('eyJh.eyJz.siG', 0)).toBeUndefined();
  });
});
