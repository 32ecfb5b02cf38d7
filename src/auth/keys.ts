import { X509Certificate, createPublicKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** A verification key as configured, with the JWS algorithms it may verify. */
export interface VerificationKey {
  key: KeyObject | Uint8Array;
  algorithms: string[];
  /** `secret` for HMAC, otherwise the public key type (`rsa`, `ec`, `ed25519`, …). */
  kind: string;
}

/** A key or algorithm setting the hub cannot use; the message names the setting. */
export class KeyConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyConfigError';
  }
}

const HMAC = ['HS256', 'HS384', 'HS512'];
const RSA = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
const EC_BY_CURVE: Record<string, string> = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' };
/** Every algorithm the hub can be configured for; `none` is deliberately absent. */
export const SUPPORTED_ALGORITHMS = [...HMAC, ...RSA, 'ES256', 'ES384', 'ES512', 'EdDSA'];

/** Parses `SSEHUB_JWT_ALG`: one algorithm or a comma-separated list; empty means "from the key". */
export function parseAlgorithms(raw: string | undefined, setting: string): string[] | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  const algorithms = raw
    .split(',')
    .map((alg) => alg.trim())
    .filter((alg) => alg !== '');
  for (const alg of algorithms) {
    if (!SUPPORTED_ALGORITHMS.includes(alg)) {
      throw new KeyConfigError(
        `${setting}: unsupported algorithm "${alg}" (use ${SUPPORTED_ALGORITHMS.join(', ')})`,
      );
    }
  }
  return algorithms;
}

/**
 * Reads a configured key: a PEM public key or X.509 certificate (RS*, PS*, ES*, EdDSA), otherwise
 * an HMAC secret (HS*). `@path` reads the key from a file. Without explicit algorithms, the
 * algorithm follows from the key: HS256 for a secret, RS256 for RSA, ES256/384/512 by curve.
 */
export function parseVerificationKey(
  raw: string,
  setting: string,
  algorithms: string[] | undefined,
): VerificationKey {
  const material = raw.startsWith('@') ? readKeyFile(raw.slice(1), setting) : raw;
  if (!material.trimStart().startsWith('-----BEGIN')) {
    const secret = new TextEncoder().encode(material);
    if (secret.length === 0) throw new KeyConfigError(`${setting}: the secret is empty`);
    const allowed = algorithms ?? ['HS256'];
    requireFamily(allowed, HMAC, setting, 'an HMAC secret');
    return { key: secret, algorithms: allowed, kind: 'secret' };
  }
  if (/PRIVATE KEY-----/.test(material)) {
    throw new KeyConfigError(`${setting}: this is a private key; give the hub the public key only`);
  }
  let key: KeyObject;
  try {
    key = material.includes('-----BEGIN CERTIFICATE')
      ? new X509Certificate(material).publicKey
      : createPublicKey(material);
  } catch (error) {
    throw new KeyConfigError(`${setting}: not a readable PEM public key (${(error as Error).message})`);
  }
  const type = key.asymmetricKeyType ?? 'unknown';
  if (type === 'rsa' || type === 'rsa-pss') {
    const allowed = algorithms ?? ['RS256'];
    requireFamily(allowed, RSA, setting, 'an RSA key');
    return { key, algorithms: allowed, kind: type };
  }
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve ?? '';
    const curveAlg = EC_BY_CURVE[curve];
    if (curveAlg === undefined) throw new KeyConfigError(`${setting}: unsupported EC curve ${curve}`);
    const allowed = algorithms ?? [curveAlg];
    requireFamily(allowed, [curveAlg], setting, `an EC ${curve} key`);
    return { key, algorithms: allowed, kind: type };
  }
  if (type === 'ed25519' || type === 'ed448') {
    const allowed = algorithms ?? ['EdDSA'];
    requireFamily(allowed, ['EdDSA'], setting, `an ${type} key`);
    return { key, algorithms: allowed, kind: type };
  }
  throw new KeyConfigError(`${setting}: unsupported key type ${type}`);
}

function requireFamily(algorithms: string[], family: string[], setting: string, what: string): void {
  const wrong = algorithms.find((alg) => !family.includes(alg));
  if (wrong !== undefined) {
    throw new KeyConfigError(
      `${setting}: algorithm ${wrong} cannot be used with ${what} (use ${family.join(', ')})`,
    );
  }
}

function readKeyFile(path: string, setting: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (error) {
    throw new KeyConfigError(`${setting}: cannot read key file ${path} (${(error as Error).message})`);
  }
}
