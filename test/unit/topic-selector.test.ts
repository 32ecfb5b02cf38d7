import { describe, expect, it } from 'vitest';
import { compileSelector, SelectorCache } from '../../src/hub/topic-selector.js';

describe('topic selectors (Mercure)', () => {
  it.each([
    ['*', 'anything at all', true],
    ['https://ex.com/books/1', 'https://ex.com/books/1', true],
    ['https://ex.com/books/1', 'https://ex.com/books/12', false],
    ['https://ex.com/books/{id}', 'https://ex.com/books/1', true],
    ['https://ex.com/books/{id}', 'https://ex.com/books/', true],
    ['https://ex.com/books/{id}', 'https://ex.com/books/1/reviews', false],
    ['https://ex.com/books/{id}', 'https://ex.com/books/a%20b', true],
    ['https://ex.com/books/{id}', 'https://ex.com/books/{id}', true],
    ['https://ex.com/{+path}', 'https://ex.com/a/b/c?x=1', true],
    ['https://ex.com/books{/id}', 'https://ex.com/books/7', true],
    ['https://ex.com/books{/id}', 'https://ex.com/books', true],
    [
      'https://ex.com/users/foo/{?topic}',
      'https://ex.com/users/foo/?topic=https%3A%2F%2Fex.com%2Fbooks%2F1',
      true,
    ],
    ['https://ex.com/users/foo/{?topic}', 'https://ex.com/users/bar/?topic=x', false],
    ['https://ex.com/{a}/{b}', 'https://ex.com/x/y', true],
    ['https://ex.com/{a}/{b}', 'https://ex.com/x', false],
    ['a.b', 'aXb', false],
  ])('%s against %s → %s', (selector, topic, expected) => {
    expect(compileSelector(selector).matches(topic)).toBe(expected);
  });

  it('treats an invalid template as an exact string, with no regular-expression surprises', () => {
    for (const source of ['https://ex.com/{', 'https://ex.com/{a b}', 'https://ex.com/}{', '{(.*)}']) {
      const selector = compileSelector(source);
      expect(selector.kind).toBe('exact');
      expect(selector.matches(source)).toBe(true);
      expect(selector.matches('https://ex.com/x')).toBe(false);
    }
  });

  it('compiles each distinct selector once and stays bounded', () => {
    const cache = new SelectorCache(2);
    const first = cache.get('https://ex.com/{id}');
    expect(cache.get('https://ex.com/{id}')).toBe(first);
    cache.get('b');
    cache.get('c');
    expect(cache.get('https://ex.com/{id}')).not.toBe(first);
  });
});
