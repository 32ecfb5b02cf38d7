import type { JWTPayload } from 'jose';
import { MATCH_TYPES, urlPatternSelector } from '../hub/topic-selector.js';
import type { MatchType, SelectorSpec } from '../hub/topic-selector.js';

/** The rights a token grants, from its `mercure` claim. */
export interface MercureRights {
  /** Topic selectors the bearer may publish to; empty: none. */
  publish: readonly SelectorSpec[];
  /** Topic selectors whose private updates the bearer may receive; undefined: public ones only. */
  subscribe: readonly SelectorSpec[] | undefined;
  /** `mercure.payload`: any JSON, passed through to the bearer's subscription events. */
  payload?: unknown;
}

/** The claim namespace the Mercure reference hub also accepts. */
const NAMESPACED_CLAIM = 'https://mercure.rocks/';

/** A `mercure` claim of the wrong shape: the token is refused rather than half-understood. */
export class ClaimShapeError extends Error {}

/** Reads `mercure.publish` / `mercure.subscribe` (or their `https://mercure.rocks/` form). */
export function mercureRights(payload: JWTPayload): MercureRights {
  const claim = payload.mercure ?? payload[NAMESPACED_CLAIM];
  if (claim === undefined || claim === null) return { publish: [], subscribe: undefined };
  if (typeof claim !== 'object' || Array.isArray(claim)) {
    throw new ClaimShapeError('the "mercure" claim must be an object');
  }
  const { publish, subscribe, payload: attached } = claim as Record<string, unknown>;
  return {
    publish: selectors(publish, 'mercure.publish') ?? [],
    subscribe: selectors(subscribe, 'mercure.subscribe'),
    ...(attached === undefined ? {} : { payload: attached }),
  };
}

/**
 * The token's subject, if it names one. Connection limits and cut-offs are kept per subject, so a
 * `sub` that is present but not a string (an array, a number, null) refuses the token: read as
 * "no subject", it would escape both.
 */
export function subjectOf(payload: JWTPayload): string | undefined {
  const subject: unknown = payload.sub;
  if (subject === undefined) return undefined;
  if (typeof subject !== 'string') throw new ClaimShapeError('the "sub" claim must be a string');
  return subject;
}

/**
 * An array of selectors: each a string (a draft-07 selector) or, as in draft-08 grants, an object
 * `{ "match": "…", "match_type": "exact" | "urlpattern" | "template" }` (`match_type` absent: exact).
 */
export function selectors(value: unknown, name: string): SelectorSpec[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) {
    throw new ClaimShapeError(`"${name}" must be an array of topic selectors`);
  }
  return value.map((item) => selectorOf(item, name));
}

function selectorOf(item: unknown, name: string): SelectorSpec {
  if (typeof item === 'string' && item !== '') return item;
  if (typeof item !== 'object' || item === null || Array.isArray(item)) {
    throw new ClaimShapeError(`"${name}" must be an array of topic selectors`);
  }
  const { match, match_type: matchType = 'exact' } = item as Record<string, unknown>;
  if (typeof match !== 'string' || match === '') {
    throw new ClaimShapeError(`"${name}": each selector object needs a non-empty "match"`);
  }
  if (!(MATCH_TYPES as readonly unknown[]).includes(matchType)) {
    throw new ClaimShapeError(`"${name}": "match_type" must be one of ${MATCH_TYPES.join(', ')}`);
  }
  if (matchType === 'urlpattern') {
    try {
      urlPatternSelector(match);
    } catch (error) {
      throw new ClaimShapeError(`"${name}": ${(error as Error).message.replace(/\.$/, '')}`);
    }
  }
  return { match, matchType: matchType as MatchType };
}
