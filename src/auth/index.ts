/** `ssehub/auth`: Mercure authorization with JWTs. */

/** The Authorizer for Mercure JWTs: topic rights, private updates, expiry, rate limits, cut-offs. */
export { JwtAuthorizer } from './jwt-authorizer.js';
/** JwtAuthorizer's settings: verifiers, anonymous access, leeway, publish rate. */
export type { JwtAuthorizerOptions } from './jwt-authorizer.js';
/** A JwtAuthorizer from the standalone hub's settings (keys, JWKS URL, algorithms); undefined when open. */
export { authorizerFromSettings } from './settings.js';
/** The settings `authorizerFromSettings` reads. */
export type { AuthSettings } from './settings.js';
/** Verifies tokens with one key (an HMAC secret or a public key). */
export { keyVerifier } from './verifier.js';
/** Verifies tokens with the keys of a JWK Set URL. */
export { jwksVerifier } from './verifier.js';
/** Verifies a token and returns its payload: implement it for another source of keys. */
export type { TokenVerifier } from './verifier.js';
/** A verifier's settings: algorithms, leeway. */
export type { VerifierOptions } from './verifier.js';
/** What a TokenVerifier throws for a token it refuses (answered 401). */
export { TokenRejectedError } from './verifier.js';
/** What a TokenVerifier throws when it cannot get its keys (answered 503). */
export { KeySetUnavailableError } from './verifier.js';
/** Why a token was refused. */
export type { TokenProblem } from './verifier.js';
/** Reads a key setting (a secret, a PEM key or certificate, `@file`) for `keyVerifier`. */
export { parseVerificationKey } from './keys.js';
/** A parsed key and the algorithms it verifies. */
export type { VerificationKey } from './keys.js';
/** Thrown for a key or algorithm setting that cannot be used. */
export { KeyConfigError } from './keys.js';
/** The cookie a browser page may carry its token in (draft-07): `mercureAuthorization`. */
export { TOKEN_COOKIE } from './token.js';
/** The draft-08 (Mercure 1.0) cookie, `__Secure-mercure_access_token`: read before `mercureAuthorization`. */
export { ACCESS_TOKEN_COOKIE } from './token.js';
