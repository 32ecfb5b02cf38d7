import { JwtAuthorizer } from './jwt-authorizer.js';
import { KeyConfigError, parseAlgorithms, parseVerificationKey } from './keys.js';
import { jwksVerifier, keyVerifier } from './verifier.js';
import type { TokenVerifier } from './verifier.js';

/** Authorization settings as the standalone hub's configuration holds them. */
export interface AuthSettings {
  jwtKey?: string | undefined;
  publisherJwtKey?: string | undefined;
  subscriberJwtKey?: string | undefined;
  /** `SSEHUB_JWT_ALG`: algorithms to accept, comma-separated; empty: from the key. */
  jwtAlgorithms?: string | undefined;
  jwksUrl?: string | undefined;
  jwtLeewaySeconds: number;
  /** `SSEHUB_JWT_ISSUER`: accepted `iss` values; set (or the audience), RFC 9068 access tokens are required. */
  jwtIssuer?: readonly string[] | undefined;
  /** `SSEHUB_JWT_AUDIENCE`: the hub's resource identifiers, one of which `aud` must name. */
  jwtAudience?: readonly string[] | undefined;
  allowAnonymous: boolean;
  publishRatePerSecond: number;
  /** Origins allowed to publish with the cookie (the CORS allowlist). */
  allowsCredentialsFrom?(origin: string): boolean;
}

/**
 * Builds the JWT authorizer the settings describe, or undefined when no key is configured (the
 * hub is then open, for development). Throws KeyConfigError naming the setting that is wrong.
 */
export function authorizerFromSettings(settings: AuthSettings): JwtAuthorizer | undefined {
  const algorithms = parseAlgorithms(settings.jwtAlgorithms, 'SSEHUB_JWT_ALG');
  const verifierOptions = { leewaySeconds: settings.jwtLeewaySeconds };
  let jwks: TokenVerifier | undefined;
  if (settings.jwksUrl !== undefined) {
    let url: URL;
    try {
      url = new URL(settings.jwksUrl);
    } catch {
      throw new KeyConfigError(`SSEHUB_JWKS_URL: not a URL: ${JSON.stringify(settings.jwksUrl)}`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new KeyConfigError('SSEHUB_JWKS_URL: must be an http(s) URL');
    }
    if (algorithms?.some((alg) => alg.startsWith('HS'))) {
      throw new KeyConfigError('SSEHUB_JWT_ALG: HMAC algorithms cannot be used with SSEHUB_JWKS_URL');
    }
    jwks = jwksVerifier(url, algorithms, verifierOptions);
  }
  const verifierFor = (raw: string | undefined, setting: string): TokenVerifier | undefined =>
    raw === undefined ? jwks : keyVerifier(parseVerificationKey(raw, setting, algorithms), verifierOptions);
  const publisher = verifierFor(
    settings.publisherJwtKey ?? settings.jwtKey,
    settings.publisherJwtKey !== undefined ? 'SSEHUB_PUBLISHER_JWT_KEY' : 'SSEHUB_JWT_KEY',
  );
  const subscriber = verifierFor(
    settings.subscriberJwtKey ?? settings.jwtKey,
    settings.subscriberJwtKey !== undefined ? 'SSEHUB_SUBSCRIBER_JWT_KEY' : 'SSEHUB_JWT_KEY',
  );
  if (publisher === undefined && subscriber === undefined) return undefined;
  if (publisher === undefined) {
    throw new KeyConfigError(
      'SSEHUB_SUBSCRIBER_JWT_KEY is set but publishers have no key: set SSEHUB_PUBLISHER_JWT_KEY, SSEHUB_JWT_KEY or SSEHUB_JWKS_URL',
    );
  }
  if (subscriber === undefined && !settings.allowAnonymous) {
    throw new KeyConfigError(
      'SSEHUB_PUBLISHER_JWT_KEY is set but subscribers have no key: set SSEHUB_SUBSCRIBER_JWT_KEY, SSEHUB_JWT_KEY or SSEHUB_JWKS_URL, or SSEHUB_ALLOW_ANONYMOUS=true',
    );
  }
  return new JwtAuthorizer({
    publisher,
    subscriber,
    allowAnonymous: settings.allowAnonymous,
    leewaySeconds: settings.jwtLeewaySeconds,
    publishRatePerSecond: settings.publishRatePerSecond,
    allowsCredentialsFrom: settings.allowsCredentialsFrom,
    issuer: settings.jwtIssuer,
    audience: settings.jwtAudience,
  });
}

/** Shortest HMAC secret not flagged: shorter ones can be brute-forced offline from any token. */
const MIN_SECRET_BYTES = 32;

/** Weak but usable settings, one line each, for the start-up output. */
export function keyWarnings(settings: AuthSettings): string[] {
  const warnings: string[] = [];
  const keys: [string | undefined, string][] = [
    [settings.jwtKey, 'SSEHUB_JWT_KEY'],
    [settings.publisherJwtKey, 'SSEHUB_PUBLISHER_JWT_KEY'],
    [settings.subscriberJwtKey, 'SSEHUB_SUBSCRIBER_JWT_KEY'],
  ];
  for (const [raw, setting] of keys) {
    if (raw === undefined) continue;
    const key = parseVerificationKey(raw, setting, parseAlgorithms(settings.jwtAlgorithms, 'SSEHUB_JWT_ALG'));
    if (key.kind === 'secret' && (key.key as Uint8Array).length < MIN_SECRET_BYTES) {
      warnings.push(
        `${setting}: an HMAC secret of ${(key.key as Uint8Array).length} bytes can be guessed offline from any token; use at least ${MIN_SECRET_BYTES} random bytes`,
      );
    }
  }
  return warnings;
}
