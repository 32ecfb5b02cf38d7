/**
 * Draft-08 `match_urlpattern` selectors: WHATWG URL Patterns (`https://example.net/books/:id`).
 * Node 20 has no `URLPattern`, so the polyfill's class is used without installing it globally.
 *
 * The polyfill compiles each URL component to a backtracking regular expression. Left unbounded, a
 * subscriber could send a pattern that backtracks catastrophically (a custom regexp group, optional
 * groups in a row, two groups sharing one path segment) and stall fan-out for everyone (architecture
 * invariant 11). So a pattern is accepted only in a shape whose expression matches in time linear in
 * the topic's length (times the pattern's literal text): no regexp groups, no modifiers on groups,
 * a full wildcard only at the end of its component, and at most one group between two delimiters.
 */
import { URLPattern } from 'urlpattern-polyfill/urlpattern';
import { HubInputError } from './validate.js';

/** Most named groups and wildcards in one pattern, all components together. */
export const MAX_URL_PATTERN_GROUPS = 16;

/** Components and the character a segment group there cannot cross (none: the whole component). */
const COMPONENTS = [
  ['protocol', undefined],
  ['username', undefined],
  ['password', undefined],
  ['hostname', '.'],
  ['port', undefined],
  ['pathname', '/'],
  ['search', undefined],
  ['hash', undefined],
] as const;

export interface UrlPatternMatcher {
  matches(topic: string): boolean;
}

/** Compiles a URL pattern, or throws HubInputError with one line saying why it is refused. */
export function compileUrlPattern(source: string): UrlPatternMatcher {
  let pattern: URLPattern;
  try {
    pattern = new URLPattern(source);
  } catch {
    throw new HubInputError(
      `Invalid URL pattern ${JSON.stringify(source.slice(0, 200))}: expected an absolute URL pattern such as https://example.net/books/:id.`,
    );
  }
  // Typed by the polyfill's older declarations only at run time (the standard added it later).
  if ((pattern as URLPattern & { hasRegExpGroups: boolean }).hasRegExpGroups) {
    throw refused(source, 'regular-expression groups are not accepted');
  }
  let groups = 0;
  for (const [component, delimiter] of COMPONENTS) {
    groups += checkComponent(source, pattern[component], delimiter);
  }
  if (groups > MAX_URL_PATTERN_GROUPS) {
    throw refused(source, `more than ${MAX_URL_PATTERN_GROUPS} groups`);
  }
  return {
    matches(topic) {
      try {
        return pattern.test(topic);
      } catch {
        return false;
      }
    },
  };
}

/**
 * Scans one normalized component pattern; returns how many groups it holds. Refuses the shapes that
 * would make the compiled expression backtrack more than linearly.
 */
function checkComponent(source: string, component: string, delimiter: string | undefined): number {
  let groups = 0;
  let groupsSinceDelimiter = 0;
  for (let i = 0; i < component.length; i++) {
    const char = component[i];
    if (char === '\\') {
      i++;
      continue;
    }
    if (char === delimiter) {
      groupsSinceDelimiter = 0;
      continue;
    }
    let isGroup = false;
    if (char === ':' && /[A-Za-z_$]/.test(component[i + 1] ?? '')) {
      while (/[\w$]/.test(component[i + 1] ?? '')) i++;
      isGroup = true;
    } else if (char === '*') {
      // The component's default `*` (any value) and a trailing wildcard match greedily to the end.
      if (i !== component.length - 1) throw refused(source, 'a "*" wildcard is allowed only at the end');
      isGroup = component !== '*';
    } else if (char === '}') {
      isGroup = false;
    } else {
      continue;
    }
    if (/[?*+]/.test(component[i + 1] ?? '')) {
      throw refused(source, 'modifiers (?, *, +) on groups are not accepted');
    }
    if (!isGroup) continue;
    groups++;
    groupsSinceDelimiter++;
    if (groupsSinceDelimiter > 1) {
      throw refused(
        source,
        delimiter === undefined
          ? 'at most one group per component outside the host and path'
          : `at most one group between two "${delimiter}"`,
      );
    }
  }
  return groups;
}

function refused(source: string, why: string): HubInputError {
  return new HubInputError(`URL pattern ${JSON.stringify(source.slice(0, 200))} refused: ${why}.`);
}
