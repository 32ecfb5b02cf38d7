import { createHmac } from 'node:crypto';

/**
 * Signing as the Standard Webhooks specification says (https://www.standardwebhooks.com), so that
 * receivers can verify with its libraries: the secret is `whsec_` and the base64 of the key; the
 * signature is HMAC-SHA256 over `${webhook-id}.${webhook-timestamp}.${body}`, base64-encoded and
 * sent as `webhook-signature: v1,<signature>`; the timestamp is in whole seconds since the epoch.
 */

export const SECRET_PREFIX = 'whsec_';
/** The key sizes the specification recommends (bytes). */
const MIN_KEY_BYTES = 24;
const MAX_KEY_BYTES = 64;

export const SECRET_RULE = `${SECRET_PREFIX} followed by the base64 of ${MIN_KEY_BYTES} to ${MAX_KEY_BYTES} random bytes (the Standard Webhooks format; e.g. "whsec_" + \`openssl rand -base64 32\`)`;

/** The HMAC key of a `whsec_…` secret; undefined when it is not one (the caller says why, never echoing it). */
export function signingKeyOf(secret: string): Buffer | undefined {
  if (!secret.startsWith(SECRET_PREFIX)) return undefined;
  const encoded = secret.slice(SECRET_PREFIX.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || encoded.length % 4 !== 0) return undefined;
  const key = Buffer.from(encoded, 'base64');
  return key.length >= MIN_KEY_BYTES && key.length <= MAX_KEY_BYTES ? key : undefined;
}

/** The headers that sign one attempt of a message. */
export function signatureHeaders(
  key: Buffer,
  id: string,
  timestampSeconds: number,
  body: string,
): Record<string, string> {
  const signature = createHmac('sha256', key).update(`${id}.${timestampSeconds}.${body}`).digest('base64');
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestampSeconds),
    'webhook-signature': `v1,${signature}`,
  };
}
