import { decodeProtectedHeader } from 'jose';
import type { JWTPayload } from 'jose';
import { TokenRejectedError } from './verifier.js';

/**
 * What a hub expects of an RFC 9068 access token (Mercure draft-08). Configuring either turns the
 * profile on: every token must then be typed `at+jwt`, name an accepted issuer and audience, and
 * carry `exp`. Without either, draft-07 tokens (no `typ`, or `JWT`) keep working.
 */
export interface AccessTokenRules {
  /** Issuers (`iss`) accepted; a token naming none of them is refused. */
  issuers?: readonly string[] | undefined;
  /** Audiences, the hub's resource identifiers; a token whose `aud` names none of them is refused. */
  audiences?: readonly string[] | undefined;
}

/** `typ` values a token may carry, as media types compare: case-insensitively, `application/` optional. */
const ACCESS_TOKEN_TYPE = 'at+jwt';
const PLAIN_JWT_TYPE = 'jwt';

/** Whether the rules ask for RFC 9068 access tokens only. */
export function requiresAccessTokens(rules: AccessTokenRules): boolean {
  return (rules.issuers?.length ?? 0) > 0 || (rules.audiences?.length ?? 0) > 0;
}

/**
 * Checks a verified token against the profile; throws TokenRejectedError naming the first problem.
 * RFC 8725 explicit typing: a token typed for something else (an ID token, a logout token, …) is
 * never read as an access token, whatever its claims; `at+jwt` tokens must expire (draft-08).
 * Reads the header of a token whose signature is already checked, so it trusts what it decodes.
 */
export function checkAccessToken(token: string, payload: JWTPayload, rules: AccessTokenRules): void {
  const type = normalizedType(token);
  const required = requiresAccessTokens(rules);
  if (type !== undefined && type !== ACCESS_TOKEN_TYPE && type !== PLAIN_JWT_TYPE) {
    throw new TokenRejectedError('wrong token type');
  }
  if (required && type !== ACCESS_TOKEN_TYPE) throw new TokenRejectedError('wrong token type');
  if (type === ACCESS_TOKEN_TYPE && typeof payload.exp !== 'number') {
    throw new TokenRejectedError('expiry required');
  }
  const { issuers, audiences } = rules;
  if (issuers && issuers.length > 0) {
    if (typeof payload.iss !== 'string' || !issuers.includes(payload.iss)) {
      throw new TokenRejectedError('wrong issuer');
    }
  }
  if (audiences && audiences.length > 0) {
    const named =
      typeof payload.aud === 'string' ? [payload.aud] : Array.isArray(payload.aud) ? payload.aud : [];
    if (!named.some((audience) => typeof audience === 'string' && audiences.includes(audience))) {
      throw new TokenRejectedError('wrong audience');
    }
  }
}

/**
 * `application/AT+JWT` → `at+jwt`; undefined when there is no `typ`; `''` for a non-string. A token
 * with no JWS header to read (an opaque token a custom TokenVerifier vouched for) has no `typ`.
 */
function normalizedType(token: string): string | undefined {
  let typ: unknown;
  try {
    typ = decodeProtectedHeader(token).typ;
  } catch {
    return undefined;
  }
  if (typ === undefined) return undefined;
  if (typeof typ !== 'string') return '';
  const lower = typ.toLowerCase();
  return lower.startsWith('application/') && !lower.slice('application/'.length).includes('/')
    ? lower.slice('application/'.length)
    : lower;
}
