/**
 * Mercure topic selectors: `*`, an exact topic, or an RFC 6570 URI template. A topic matches a
 * selector when the selector is `*`, when both are byte-for-byte equal, or when the selector is a
 * URI template that the topic expands from. Nothing else matches. Draft-08 adds selectors of a
 * declared type: `exact` (byte for byte only) and `urlpattern` (a WHATWG URL Pattern).
 */
import { templateMatcher } from './uri-template.js';
import type { TemplatePart } from './uri-template.js';
import { compileUrlPattern } from './url-pattern.js';

export interface TopicSelector {
  readonly source: string;
  readonly kind: 'all' | 'exact' | 'template' | 'urlpattern';
  /** The type the subscription declared (draft-08 `match=` is `exact`); absent for draft-07 `topic=`. */
  readonly declared?: MatchType;
  matches(topic: string): boolean;
}

/**
 * How a selector's text is read: `template` is draft-07's (`*`, exact or URI template), `exact` and
 * `urlpattern` are draft-08's `match_type` values.
 */
export const MATCH_TYPES = ['template', 'exact', 'urlpattern'] as const;
export type MatchType = (typeof MATCH_TYPES)[number];

/** A selector with its declared type; a bare string is a draft-07 `template` selector. */
export interface TypedSelector {
  readonly match: string;
  readonly matchType: MatchType;
}

/** A selector as tokens and subscriptions give it. */
export type SelectorSpec = string | TypedSelector;

export function typedSelector(spec: SelectorSpec): TypedSelector {
  return typeof spec === 'string' ? { match: spec, matchType: 'template' } : spec;
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
export function exactSelector(source: string, declared?: MatchType): TopicSelector {
  return { source, kind: 'exact', ...(declared ? { declared } : {}), matches: (topic) => topic === source };
}

/** A URL Pattern selector; throws HubInputError for a pattern refused as invalid or too complex. */
export function urlPatternSelector(source: string): TopicSelector {
  const pattern = compileUrlPattern(source);
  return { source, kind: 'urlpattern', matches: (topic) => pattern.matches(topic) };
}

/** Compiles a selector of any type (a bare string is a draft-07 selector). */
export function compileTypedSelector(spec: SelectorSpec): TopicSelector {
  const { match, matchType } = typedSelector(spec);
  if (matchType === 'exact') return exactSelector(match);
  if (matchType === 'urlpattern') return urlPatternSelector(match);
  return compileSelector(match);
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

  get(spec: SelectorSpec): TopicSelector {
    const { match, matchType } = typedSelector(spec);
    // Types as prefixes keep `exact` and `template` readings of one string apart.
    const key = matchType === 'template' ? match : `${matchType}\0${match}`;
    let selector = this.cache.get(key);
    if (!selector) {
      selector = compileTypedSelector(spec);
      if (this.cache.size >= this.capacity) {
        const oldest = this.cache.keys().next().value;
        if (oldest !== undefined) this.cache.delete(oldest);
      }
      this.cache.set(key, selector);
    }
    return selector;
  }
}
