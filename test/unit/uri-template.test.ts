import { describe, expect, it } from 'vitest';
import { compileSelector } from '../../src/hub/topic-selector.js';
import { fuzzSeeds, randomInt, seededRandom } from '../helpers/random.js';
import type { Random } from '../helpers/random.js';

/**
 * The backtracking regular-expression compiler templates used before, kept here only as the oracle
 * for what matches: the automaton must accept exactly the same topics (on inputs short enough for
 * the regular expression to finish).
 */
const UNRESERVED = '(?:[A-Za-z0-9\\-._~]|%[0-9A-Fa-f]{2})';
const RESERVED = "(?:[A-Za-z0-9\\-._~:/?#\\[\\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})";
const EXPRESSION = /\{([^{}]*)\}/g;
const VARIABLE_LIST =
  /^[+#./;?&]?(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2})(?:\.?(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2}))*(?::[1-9][0-9]{0,3}|\*)?(?:,(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2})(?:\.?(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2}))*(?::[1-9][0-9]{0,3}|\*)?)*$/;

function oraclePattern(expression: string): string {
  const operator = /^[+#./;?&]/.test(expression) ? expression[0] : '';
  switch (operator) {
    case '+':
      return `${RESERVED}*`;
    case '#':
      return `(?:#${RESERVED}*)?`;
    case '.':
      return `(?:\\.${UNRESERVED}*)*`;
    case '/':
      return `(?:/${UNRESERVED}*)*`;
    case ';':
      return `(?:;[^;/?#]*)*`;
    case '?':
      return `(?:\\?[^#]*)?`;
    case '&':
      return `(?:&[^#]*)*`;
    default:
      return `(?:${UNRESERVED}*(?:,${UNRESERVED}*)*)`;
  }
}

const escapeLiteral = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function oracleRegExp(template: string): RegExp | undefined {
  let pattern = '^';
  let last = 0;
  let sawExpression = false;
  for (const match of template.matchAll(EXPRESSION)) {
    const literal = template.slice(last, match.index);
    if (literal.includes('{') || literal.includes('}')) return undefined;
    const expression = match[1] ?? '';
    if (!VARIABLE_LIST.test(expression)) return undefined;
    pattern += escapeLiteral(literal) + oraclePattern(expression);
    last = match.index + match[0].length;
    sawExpression = true;
  }
  const tail = template.slice(last);
  if (!sawExpression || tail.includes('{') || tail.includes('}')) return undefined;
  return new RegExp(pattern + escapeLiteral(tail) + '$');
}

function oracleMatches(template: string, topic: string): boolean {
  if (template === '*' || topic === template) return true;
  const regexp = template.includes('{') ? oracleRegExp(template) : undefined;
  return regexp !== undefined && regexp.test(topic);
}

const OPERATORS = ['', '+', '#', '.', '/', ';', '?', '&'];
/** Characters that every operator treats differently: separators, escapes, non-ASCII, a lone surrogate. */
const CHARACTERS = [
  'a',
  'Z',
  '4',
  'F',
  '.',
  ',',
  '/',
  ';',
  '?',
  '&',
  '#',
  '=',
  '%',
  ':',
  '~',
  ' ',
  'é',
  '\ud800',
];
const pick = <T>(random: Random, items: readonly T[]): T => items[randomInt(random, 0, items.length - 1)]!;
const randomText = (random: Random, max: number) =>
  Array.from({ length: randomInt(random, 0, max) }, () => pick(random, CHARACTERS)).join('');

function randomTemplate(random: Random): string {
  let template = '';
  for (let i = randomInt(random, 1, 4); i > 0; i--) {
    template += randomText(random, 2).replace(/[{}]/g, '');
    const names = pick(random, ['x', 'x,y', 'x:3', 'x*', 'a.b']);
    template += `{${pick(random, OPERATORS)}${names}}`;
  }
  return template + randomText(random, 2);
}

/** A topic that often matches: each expression replaced by a plausible expansion, or noise. */
function randomTopic(random: Random, template: string): string {
  if (random() < 0.3) return randomText(random, 10);
  return template.replace(EXPRESSION, (_, expression: string) => {
    const operator = /^[+#./;?&]/.test(expression) ? expression[0]! : '';
    let expansion = '';
    for (let i = randomInt(random, 0, 3); i > 0; i--) {
      expansion += (random() < 0.7 ? operator : '') + randomText(random, 3);
    }
    return expansion;
  });
}

describe('URI template matching', () => {
  it.each(fuzzSeeds(5))('agrees with the former regular-expression compiler (seed %i)', (seed) => {
    const random = seededRandom(seed);
    let matched = 0;
    for (let t = 0; t < 400; t++) {
      const template = randomTemplate(random);
      const selector = compileSelector(template);
      for (let i = 0; i < 25; i++) {
        const topic = randomTopic(random, template);
        const expected = oracleMatches(template, topic);
        if (selector.matches(topic) !== expected) {
          expect.fail(`seed ${seed}: ${JSON.stringify(template)} against ${JSON.stringify(topic)}`);
        }
        if (expected) matched++;
      }
    }
    // The generator must exercise both answers, not only refusals.
    expect(matched).toBeGreaterThan(1000);
  });

  it('agrees with the former compiler on escapes and separators of every operator', () => {
    const topics = [
      '',
      'a',
      '%4F',
      '%4',
      '%G0',
      'a%4Fb',
      '.a.b',
      '/a/b',
      ';a=1;b',
      '?a=1&b=2',
      '&a',
      '#f',
      'a,b',
      'a#b',
    ];
    for (const operator of OPERATORS) {
      for (const template of [`{${operator}x}`, `p{${operator}x}{${operator}y}s`, `{${operator}x}/{+y}`]) {
        for (const topic of topics.flatMap((t) => [t, `p${t}s`, `${t}/${t}`])) {
          expect([template, topic, compileSelector(template).matches(topic)]).toEqual([
            template,
            topic,
            oracleMatches(template, topic),
          ]);
        }
      }
    }
  });
});

/**
 * Regular expressions took seconds to hours on these (`{.a}` against 24 dots: 50 ms, doubling with
 * each dot; eight `{+x}` then a literal: 31.8 s in the issue). The automaton takes at most
 * O(states × topic length), usually O(topic length): about 20 ms for the worst here on a quiet
 * machine. The bound is for a loaded one, and each case counts its fastest of a few attempts, each
 * on a freshly compiled selector (so nothing is cached): load only ever adds time.
 */
describe('URI template matching cost', () => {
  const BOUND_MS = 100;
  const ATTEMPTS = 3;
  const repeat = (count: number, make: (i: number) => string) =>
    Array.from({ length: count }, (_, i) => make(i)).join('');
  const TEMPLATES: Record<string, string> = {
    'one {.a}': '{.a}',
    '1000 × {+x}, then a literal': repeat(1000, () => '{+x}') + 'z',
    '1000 × {.a}': repeat(1000, () => '{.a}'),
    '1000 × {/a}': repeat(1000, () => '{/a}') + '!',
    '1000 × {;a}{&a}{?a}': repeat(333, () => '{;a}{&a}{?a}') + '#',
    '1000 of every operator': repeat(1000, (i) => `{${OPERATORS[i % OPERATORS.length]}a}`) + 'z',
    // These make a new set of states at each position (the cache cannot help): the true worst case.
    // 400 expressions: a subscription's selector is at most 2048 characters.
    '400 × a{+x}': repeat(400, () => 'a{+x}'),
    '400 × .{.x}': repeat(400, () => '.{.x}'),
    '400 × /{/x}': repeat(400, () => '/{/x}') + '!',
  };
  const TOPICS: Record<string, string> = {
    dots: '.'.repeat(2047) + '!',
    slashes: '/'.repeat(2047) + '!',
    commas: ','.repeat(2047) + '!',
    letters: 'a'.repeat(2047) + '!',
    separators: repeat(256, () => './;&?,%4'),
    escapes: repeat(682, () => '%4F') + '!',
  };

  it.each(Object.entries(TEMPLATES))('%s: matching a 2048-character topic is fast', (_, template) => {
    const started = performance.now();
    expect(compileSelector(template).kind).toBe('template');
    expect(performance.now() - started).toBeLessThan(BOUND_MS);
    for (const [name, topic] of Object.entries(TOPICS)) {
      let fastest = Infinity;
      for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
        const selector = compileSelector(template);
        const start = performance.now();
        selector.matches(topic);
        fastest = Math.min(fastest, performance.now() - start);
      }
      expect({ topic: name, fast: fastest < BOUND_MS }).toEqual({ topic: name, fast: true });
    }
  });
});
