import { createRemoteJWKSet, errors, jwtVerify } from 'jose';
import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import type { VerificationKey } from './keys.js';
import { SUPPORTED_ALGORITHMS } from './keys.js';
import { VerifiedTokenCache } from './verified-tokens.js';

/** Why a token was refused; the text is sent as the `error_description` of a 401. */
export type TokenProblem =
  | 'missing token'
  | 'malformed token'
  | 'token expired'
  | 'token not yet valid'
  | 'bad signature'
  | 'algorithm not allowed'
  | 'unknown signing key'
  | 'invalid claims'
  /** A `typ` header other than `at+jwt` or `JWT`, or other than `at+jwt` where access tokens are required. */
  | 'wrong token type'
  /** An `at+jwt` token without `exp` (draft-08 access tokens must expire). */
  | 'expiry required'
  /** An `iss` that is not one of the configured issuers. */
  | 'wrong issuer'
  /** An `aud` naming none of the configured audiences. */
  | 'wrong audience'
  /** Issued before its subject was cut off (see the disconnect endpoint). */
  | 'token revoked';

export class TokenRejectedError extends Error {
  constructor(readonly problem: TokenProblem) {
    super(problem);
    this.name = 'TokenRejectedError';
  }
}

/** The key set could not be fetched: the token may be fine, the hub cannot tell yet. */
export class KeySetUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`signing keys unavailable: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'KeySetUnavailableError';
  }
}

export interface TokenVerifier {
  /** The verified claims; throws TokenRejectedError or KeySetUnavailableError. */
  verify(token: string): Promise<JWTPayload>;
}

export interface VerifierOptions {
  /** Tolerated clock difference for `exp` and `nbf`, in seconds. */
  leewaySeconds: number;
  now?: () => number;
}

/** Longest token considered; anything longer is refused before any parsing. */
const MAX_TOKEN_LENGTH = 16 * 1024;

export function keyVerifier(key: VerificationKey, options: VerifierOptions): TokenVerifier {
  return verifierFor(key.key, key.algorithms, options);
}

/** Verifies against a JWK Set served at `url` (cached; refetched when an unknown `kid` appears). */
export function jwksVerifier(
  url: URL,
  algorithms: string[] | undefined,
  options: VerifierOptions & { timeoutMs?: number },
): TokenVerifier {
  const remote = createRemoteJWKSet(url, { timeoutDuration: options.timeoutMs ?? 5000 });
  const getKey: JWTVerifyGetKey = async (header, token) => {
    try {
      return await remote(header, token);
    } catch (error) {
      if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) {
        throw error;
      }
      throw new KeySetUnavailableError(error);
    }
  };
  // A key set only ever holds public keys here: HMAC is never accepted from it.
  return verifierFor(
    getKey,
    algorithms ?? SUPPORTED_ALGORITHMS.filter((alg) => !alg.startsWith('HS')),
    options,
  );
}

/** How long a verified token is remembered (never past its `exp`). */
const VERIFIED_TTL_MS = 60_000;
const VERIFIED_CAPACITY = 10_000;

function verifierFor(
  key: VerificationKey['key'] | JWTVerifyGetKey,
  algorithms: string[],
  options: VerifierOptions,
): TokenVerifier {
  const now = options.now ?? Date.now;
  const verified = new VerifiedTokenCache(VERIFIED_CAPACITY);
  return {
    async verify(token) {
      if (token === '' || token.length > MAX_TOKEN_LENGTH) throw new TokenRejectedError('malformed token');
      const cached = verified.get(token, now());
      if (cached) return cached;
      let payload: JWTPayload;
      try {
        const verifyOptions = {
          algorithms,
          clockTolerance: options.leewaySeconds,
          currentDate: options.now ? new Date(options.now()) : undefined,
        };
        const result =
          typeof key === 'function'
            ? await jwtVerify(token, key, verifyOptions)
            : await jwtVerify(token, key, verifyOptions);
        payload = result.payload;
      } catch (error) {
        throw rejection(error);
      }
      const expiresAt =
        typeof payload.exp === 'number' ? (payload.exp + options.leewaySeconds) * 1000 : Infinity;
      verified.set(token, payload, Math.min(expiresAt, now() + VERIFIED_TTL_MS));
      return payload;
    },
  };
}

function rejection(error: unknown): Error {
  if (error instanceof KeySetUnavailableError) return error;
  if (error instanceof errors.JWTExpired) return new TokenRejectedError('token expired');
  if (error instanceof errors.JWTClaimValidationFailed) {
    return new TokenRejectedError(error.claim === 'nbf' ? 'token not yet valid' : 'invalid claims');
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return new TokenRejectedError('algorithm not allowed');
  if (error instanceof errors.JWSSignatureVerificationFailed) return new TokenRejectedError('bad signature');
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) {
    return new TokenRejectedError('unknown signing key');
  }
  // A token signed with a key of another type (e.g. an HS256 token against an RSA key) is refused
  // as a wrong algorithm by the allowlist above; anything else unparseable is malformed.
  return new TokenRejectedError('malformed token');
}
