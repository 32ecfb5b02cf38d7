import type { JWTPayload } from 'jose';

/** The rights a token grants, from its `mercure` claim. */
export interface MercureRights {
  /** Topic selectors the bearer may publish to; empty: none. */
  publish: readonly string[];
  /** Topic selectors whose private updates the bearer may receive; undefined: public ones only. */
  subscribe: readonly string[] | undefined;
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
  const { publish, subscribe } = claim as Record<string, unknown>;
  return {
    publish: selectors(publish, 'publish') ?? [],
    subscribe: selectors(subscribe, 'subscribe'),
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

function selectors(value: unknown, name: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string' && item !== '')) {
    throw new ClaimShapeError(`"mercure.${name}" must be an array of topic selectors`);
  }
  return value as string[];
}
