import type { JWTPayload } from 'jose';
import { DEFAULT_MAX_TOPICS } from '../defaults.js';
import { MATCH_TYPES, urlPatternSelector } from '../hub/topic-selector.js';
import type { MatchType, SelectorSpec } from '../hub/topic-selector.js';

/**
 * The rights a token grants: from its RFC 9396 `authorization_details` (draft-08) or, in a token
 * without them, from its `mercure` claim (draft-07).
 */
export interface MercureRights {
  /** Topic selectors the bearer may publish to; empty: none. */
  publish: readonly SelectorSpec[];
  /** Topic selectors whose private updates the bearer may receive; undefined: public ones only. */
  subscribe: readonly SelectorSpec[] | undefined;
  /**
   * Any JSON passed through to the bearer's subscription events: `mercure.payload`, or the payload
   * of the first `subscribe` entry of `authorization_details` carrying one.
   */
  payload?: unknown;
}

/** The claim namespace the Mercure reference hub also accepts. */
const NAMESPACED_CLAIM = 'https://mercure.rocks/';

/** The RFC 9396 detail type of Mercure grants (draft-08); entries of other types are other APIs'. */
export const MERCURE_DETAIL_TYPE = 'https://mercure.rocks/authorization-detail';

/**
 * Most selectors one token may grant, over all its entries (and per list of a `mercure` claim), as
 * many as one subscription may name: each may be a URL Pattern to compile, so the work a token can
 * cause is bounded before any of it is done.
 */
export const MAX_GRANTED_SELECTORS = DEFAULT_MAX_TOPICS;

/** A claim of the wrong shape: the token is refused rather than half-understood. */
export class ClaimShapeError extends Error {}

/**
 * The token's rights. A token carrying `authorization_details` is read from them alone, even when it
 * also carries a `mercure` claim: the two are never merged, so no right comes from a claim an
 * issuer of standard tokens did not mean to grant (docs/security.md, "Tokens and claims").
 */
export function mercureRights(payload: JWTPayload): MercureRights {
  const details: unknown = payload.authorization_details;
  if (details !== undefined && details !== null) return authorizationDetailsRights(details);
  return mercureClaimRights(payload);
}

/** Reads `mercure.publish` / `mercure.subscribe` (or their `https://mercure.rocks/` form). */
function mercureClaimRights(payload: JWTPayload): MercureRights {
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
  if (value.length > MAX_GRANTED_SELECTORS) {
    throw new ClaimShapeError(`"${name}": at most ${MAX_GRANTED_SELECTORS} topic selectors`);
  }
  return value.map((item) => selectorOf(item, name));
}

/**
 * RFC 9396 `authorization_details`: entries of type `https://mercure.rocks/authorization-detail`
 * grant their `actions` (`publish`, `subscribe`) on their `topics` (`{ match, match_type? }`
 * objects, `exact` by default), and several entries add up. Entries of other types belong to other
 * APIs and are skipped; a Mercure entry of the wrong shape refuses the whole token.
 */
function authorizationDetailsRights(details: unknown): MercureRights {
  if (!Array.isArray(details)) {
    throw new ClaimShapeError('"authorization_details" must be an array');
  }
  const publish: SelectorSpec[] = [];
  let subscribe: SelectorSpec[] | undefined;
  let payload: unknown;
  let granted = 0;
  for (const entry of details) {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      throw new ClaimShapeError('"authorization_details": each entry must be an object');
    }
    const { type, actions, topics, payload: attached } = entry as Record<string, unknown>;
    if (typeof type !== 'string') {
      throw new ClaimShapeError('"authorization_details": each entry needs a string "type"');
    }
    if (type !== MERCURE_DETAIL_TYPE) continue;
    const granting = actionsOf(actions);
    // Counted before any selector is compiled, over all entries however the topics are split.
    granted += Array.isArray(topics) ? topics.length : 0;
    if (granted > MAX_GRANTED_SELECTORS) {
      throw new ClaimShapeError(
        `"authorization_details": at most ${MAX_GRANTED_SELECTORS} topics over all Mercure entries`,
      );
    }
    const entrySelectors = detailTopics(topics);
    if (granting.has('publish')) publish.push(...entrySelectors);
    if (granting.has('subscribe')) {
      (subscribe ??= []).push(...entrySelectors);
      if (payload === undefined && attached !== undefined) payload = attached;
    }
  }
  return { publish, subscribe, ...(payload === undefined ? {} : { payload }) };
}

const DETAIL_ACTIONS = ['publish', 'subscribe'] as const;
type DetailAction = (typeof DETAIL_ACTIONS)[number];

function actionsOf(actions: unknown): Set<DetailAction> {
  const name = 'authorization_details[].actions';
  if (!Array.isArray(actions) || actions.length === 0) {
    throw new ClaimShapeError(`"${name}" must be a non-empty array of "publish" and "subscribe"`);
  }
  for (const action of actions) {
    if (!(DETAIL_ACTIONS as readonly unknown[]).includes(action)) {
      throw new ClaimShapeError(`"${name}": unknown action ${JSON.stringify(action)?.slice(0, 60)}`);
    }
  }
  return new Set(actions as DetailAction[]);
}

/** Draft-08 topics are objects only (a bare string is draft-07's shape); `*` grants every topic. */
function detailTopics(topics: unknown): SelectorSpec[] {
  const name = 'authorization_details[].topics';
  if (!Array.isArray(topics) || topics.length === 0) {
    throw new ClaimShapeError(`"${name}" must be a non-empty array of { "match", "match_type" } objects`);
  }
  return topics.map((item) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      throw new ClaimShapeError(`"${name}": each topic must be a { "match", "match_type" } object`);
    }
    const spec = selectorOf(item, name);
    return typeof spec !== 'string' && spec.match === '*' && spec.matchType === 'exact' ? '*' : spec;
  });
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
