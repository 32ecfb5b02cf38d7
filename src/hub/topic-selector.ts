/**
 * Mercure topic selectors: `*`, an exact topic, or an RFC 6570 URI template. A topic matches a
 * selector when the selector is `*`, when both are byte-for-byte equal, or when the selector is a
 * URI template that the topic expands from. Nothing else matches.
 */
import { templateMatcher } from './uri-template.js';
import type { TemplatePart } from './uri-template.js';

export interface TopicSelector {
  readonly source: string;
  readonly kind: 'all' | 'exact' | 'template';
  matches(topic: string): boolean;
}

const EXPRESSION = /\{([^{}]*)\}/g;
const VARIABLE_LIST =
  /^[+#./;?&]?(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2})(?:\.?(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2}))*(?::[1-9][0-9]{0,3}|\*)?(?:,(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2})(?:\.?(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2}))*(?::[1-9][0-9]{0,3}|\*)?)*$/;

/** Splits a URI template into literal text and expressions, or returns undefined if it is not one. */
function parseTemplate(template: string): TemplatePart[] | undefined {
  const parts: TemplatePart[] = [];
  let last = 0;
  for (const match of template.matchAll(EXPRESSION)) {
    const literal = template.slice(last, match.index);
    if (literal.includes('{') || literal.includes('}')) return undefined;
    const expression = match[1] ?? '';
    if (!VARIABLE_LIST.test(expression)) return undefined;
    parts.push({ literal }, { operator: /^[+#./;?&]/.test(expression) ? expression[0]! : '' });
    last = match.index + match[0].length;
  }
  const tail = template.slice(last);
  if (parts.length === 0 || tail.includes('{') || tail.includes('}')) return undefined;
  parts.push({ literal: tail });
  return parts;
}

/** A selector matching only the byte-for-byte identical topic, even when it looks like a template. */
export function exactSelector(source: string): TopicSelector {
  return { source, kind: 'exact', matches: (topic) => topic === source };
}

export function compileSelector(source: string): TopicSelector {
  if (source === '*') return { source, kind: 'all', matches: () => true };
  const parts = source.includes('{') ? parseTemplate(source) : undefined;
  if (parts) {
    // Never a regular expression: a backtracking engine makes some templates exponential.
    const template = templateMatcher(parts);
    return { source, kind: 'template', matches: (topic) => topic === source || template.matches(topic) };
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
 * selectors, and a template's automaton is not free to build. Bounded, oldest out first.
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
