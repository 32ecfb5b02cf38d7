/**
 * Which tabs of a shared connection an event is for. The leader subscribes to the union of its
 * tabs' topic selectors; the hub's events do not carry their topics, so an application that lets
 * tabs with different selectors share says how to read them (`share.topicsOf`), and each event goes
 * to the tabs with a selector matching one of its topics.
 */

/** The union of every tab's selectors, sorted and without duplicates (the leader's subscription). */
export function unionOfSelectors(selectorSets: Iterable<readonly string[]>): string[] {
  const union = new Set<string>();
  for (const selectors of selectorSets) for (const selector of selectors) union.add(selector);
  return [...union].sort();
}

/**
 * Whether a Mercure topic selector matches a topic: `*`, the exact topic, or an RFC 6570 URI
 * template. Templates are matched as the hub does for the common expressions: `{var}` (and `{.var}`,
 * `{;var}`) one path segment, `{+var}` and `{#var}` anything, `{/var}` segments, `{?var}` and
 * `{&var}` a query.
 */
export function selectorMatches(selector: string, topic: string): boolean {
  if (selector === '*' || selector === topic) return true;
  if (!selector.includes('{')) return false;
  return templatePattern(selector).test(topic);
}

const patterns = new Map<string, RegExp>();
const MAX_CACHED_PATTERNS = 256;

function templatePattern(template: string): RegExp {
  let pattern = patterns.get(template);
  if (pattern) return pattern;
  let source = '';
  let rest = template;
  for (let open = rest.indexOf('{'); open !== -1; open = rest.indexOf('{')) {
    const close = rest.indexOf('}', open);
    if (close === -1) break;
    source += escapeRegExp(rest.slice(0, open)) + expressionPattern(rest.slice(open + 1, close));
    rest = rest.slice(close + 1);
  }
  pattern = new RegExp(`^${source}${escapeRegExp(rest)}$`, 'u');
  if (patterns.size >= MAX_CACHED_PATTERNS) patterns.clear();
  patterns.set(template, pattern);
  return pattern;
}

function expressionPattern(expression: string): string {
  switch (expression[0]) {
    case '+':
      return '.*';
    case '#':
      return '(?:#.*)?';
    case '/':
      return '(?:/[^?#]*)?';
    case '?':
    case '&':
      return '(?:[?&][^#]*)?';
    case '.':
      return '(?:\\.[^/?#]*)?';
    case ';':
      return '(?:;[^/?#]*)?';
    default:
      return '[^/?#]*';
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
