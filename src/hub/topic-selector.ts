/**
 * Mercure topic selectors: `*`, an exact topic, or an RFC 6570 URI template. A topic matches a
 * selector when the selector is `*`, when both are byte-for-byte equal, or when the selector is a
 * URI template that the topic expands from. Nothing else matches.
 */

export interface TopicSelector {
  readonly source: string;
  readonly kind: 'all' | 'exact' | 'template';
  matches(topic: string): boolean;
}

const UNRESERVED = '(?:[A-Za-z0-9\\-._~]|%[0-9A-Fa-f]{2})';
const RESERVED = "(?:[A-Za-z0-9\\-._~:/?#\\[\\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})";
const EXPRESSION = /\{([^{}]*)\}/g;
const VARIABLE_LIST =
  /^[+#./;?&]?(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2})(?:\.?(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2}))*(?::[1-9][0-9]{0,3}|\*)?(?:,(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2})(?:\.?(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2}))*(?::[1-9][0-9]{0,3}|\*)?)*$/;

/** The regular expression an expression such as `{id}` or `{?topic}` expands to when matching. */
function expressionPattern(expression: string): string {
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

function escapeLiteral(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Compiles a URI template to a regular expression, or returns undefined if it is not a valid one. */
function compileTemplate(template: string): RegExp | undefined {
  let pattern = '^';
  let last = 0;
  let sawExpression = false;
  for (const match of template.matchAll(EXPRESSION)) {
    const literal = template.slice(last, match.index);
    if (literal.includes('{') || literal.includes('}')) return undefined;
    const expression = match[1] ?? '';
    if (!VARIABLE_LIST.test(expression)) return undefined;
    pattern += escapeLiteral(literal) + expressionPattern(expression);
    last = match.index + match[0].length;
    sawExpression = true;
  }
  const tail = template.slice(last);
  if (!sawExpression || tail.includes('{') || tail.includes('}')) return undefined;
  return new RegExp(pattern + escapeLiteral(tail) + '$');
}

/** A selector matching only the byte-for-byte identical topic, even when it looks like a template. */
export function exactSelector(source: string): TopicSelector {
  return { source, kind: 'exact', matches: (topic) => topic === source };
}

export function compileSelector(source: string): TopicSelector {
  if (source === '*') return { source, kind: 'all', matches: () => true };
  const regexp = source.includes('{') ? compileTemplate(source) : undefined;
  if (regexp) {
    return { source, kind: 'template', matches: (topic) => topic === source || regexp.test(topic) };
  }
  return exactSelector(source);
}

/** True when any topic matches any selector. */
export function anyTopicMatches(selectors: readonly TopicSelector[], topics: readonly string[]): boolean {
  for (const selector of selectors) {
    for (const topic of topics) if (selector.matches(topic)) return true;
  }
  return false;
}

/**
 * Compiles selectors once per distinct source string: thousands of subscribers usually share a few
 * selectors, and a template's regular expression is not free to build. Bounded, oldest out first.
 */
export class SelectorCache {
  private readonly cache = new Map<string, TopicSelector>();
  constructor(private readonly capacity = 10_000) {}

  get(source: string): TopicSelector {
    let selector = this.cache.get(source);
    if (!selector) {
      selector = compileSelector(source);
      if (this.cache.size >= this.capacity) {
        const oldest = this.cache.keys().next().value;
        if (oldest !== undefined) this.cache.delete(oldest);
      }
      this.cache.set(source, selector);
    }
    return selector;
  }
}
