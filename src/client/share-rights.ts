/**
 * What a subscription may see, reduced to a string: two tabs share a connection only when these
 * fingerprints are equal (docs/client-sharing.md, "Threat model"). A shared connection is opened
 * with one tab's credentials and relays what the hub sends it, and the hub's events do not say which
 * were private, so a tab may only receive through a connection whose rights are exactly its own.
 *
 * The fingerprint reads the token's claims without verifying it: the hub verifies; the client only
 * needs to know what the token asks for, and it is the tab's own token. `undefined` means "cannot
 * tell": the tab then does not share.
 */

/** The claims that decide what a Mercure subscriber receives, and whose cut-off applies to it. */
interface RightsClaims {
  readonly sub: unknown;
  readonly subscribe: unknown;
  readonly payload: unknown;
  /**
   * Draft-08's RFC 9396 grants, whole and as written: the hub reads them instead of `mercure` when
   * present, so two tokens with different details must never look alike. Compared as they are (not
   * canonicalized): equal rights written differently only cost a second connection.
   */
  readonly authorizationDetails: unknown;
}

const MERCURE_CLAIM = 'mercure';
const NAMESPACED_MERCURE_CLAIM = 'https://mercure.rocks/';

export function rightsFingerprint(
  token: string | undefined,
  headers: Record<string, string> | undefined,
): string | undefined {
  const claims = token === undefined || token === '' ? null : readClaims(token);
  if (claims === undefined) return undefined;
  // Extra headers may carry credentials of their own (a session header, a tenant): equal headers
  // are required too. Their names are compared case-insensitively, as HTTP does.
  const headerPairs = Object.entries(headers ?? {})
    .map(([name, value]) => [name.toLowerCase(), value])
    .sort(([a], [b]) => (a! < b! ? -1 : a! > b! ? 1 : 0));
  return JSON.stringify({ claims, headers: headerPairs });
}

/**
 * The rights-bearing claims of a JWT, canonicalized (selector lists sorted, duplicates removed), or
 * `undefined` when the token is not a readable JWT (an opaque token could mean anything).
 */
export function readClaims(token: string): RightsClaims | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  let payload: unknown;
  try {
    payload = JSON.parse(decodeBase64Url(parts[1]!));
  } catch {
    return undefined;
  }
  if (typeof payload !== 'object' || payload === null) return undefined;
  const record = payload as Record<string, unknown>;
  const mercure = (record[MERCURE_CLAIM] ?? record[NAMESPACED_MERCURE_CLAIM] ?? {}) as Record<
    string,
    unknown
  >;
  if (typeof mercure !== 'object' || mercure === null) return undefined;
  return {
    sub: record.sub ?? null,
    subscribe: canonicalSelectors(mercure.subscribe),
    payload: mercure.payload ?? null,
    authorizationDetails: record.authorization_details ?? null,
  };
}

function canonicalSelectors(value: unknown): unknown {
  if (!Array.isArray(value)) return value ?? null;
  return [...new Set(value.map((item) => JSON.stringify(item)))].sort();
}

function decodeBase64Url(text: string): string {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const padded = base64 + '='.repeat((4 - (base64.length % 4)) % 4);
  const binary = atob(padded);
  const bytes = Uint8Array.from(binary, (char) => char.charCodeAt(0));
  return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
}
