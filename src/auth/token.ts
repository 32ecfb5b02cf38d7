import type { HubRequest } from '../http/hub-request.js';
import { headerOf } from '../http/request.js';
import { base64url } from 'jose';

/** Where a request carried its token. */
export type TokenSource = 'header' | 'query' | 'cookie';

export interface PresentedToken {
  token: string;
  source: TokenSource;
}

/** The cookie name the Mercure protocol recommends. */
export const TOKEN_COOKIE = 'mercureAuthorization';

/**
 * The token a request presents, in Mercure's precedence: the `Authorization: Bearer` header, then
 * the `authorization` query parameter, then the `mercureAuthorization` cookie. A higher source that
 * is present hides the lower ones entirely, even when it is malformed, so a request never succeeds
 * on a token other than the one the client meant to send.
 */
export function presentedToken(req: HubRequest): PresentedToken | undefined {
  const header = headerOf(req, 'authorization');
  if (header !== undefined) {
    const match = /^Bearer[ ]+(\S*)\s*$/i.exec(header);
    return { token: match?.[1] ?? '', source: 'header' };
  }
  const query = new URL(req.url ?? '/', 'http://hub.invalid').searchParams.get('authorization');
  if (query !== null) return { token: query, source: 'query' };
  const cookie = cookieValue(headerOf(req, 'cookie'), TOKEN_COOKIE);
  if (cookie !== undefined) return { token: cookie, source: 'cookie' };
  return undefined;
}

/**
 * What makes a verified token the same token however it is spelled: its header and claims, as
 * decoded bytes. The decoder accepts several spellings of one token (padding, whitespace, the spare
 * low bits of the last base64url character), so the raw string cannot key a per-token limit. The
 * signature is left out on purpose: it is already checked, and ECDSA signatures are malleable (an
 * (r, n − s) twin verifies too), so anyone holding a token could mint a second spelling of it.
 * Only for a token that has been verified: it reads nothing else.
 */
export function tokenIdentity(token: string): string {
  const [header = '', claims = ''] = token.split('.');
  try {
    return `${base64url.encode(base64url.decode(header))}.${base64url.encode(base64url.decode(claims))}`;
  } catch {
    return token;
  }
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const pair of header.split(';')) {
    const separator = pair.indexOf('=');
    if (separator < 0 || pair.slice(0, separator).trim() !== name) continue;
    const raw = pair.slice(separator + 1).trim();
    const unquoted = raw.startsWith('"') && raw.endsWith('"') && raw.length >= 2 ? raw.slice(1, -1) : raw;
    try {
      return decodeURIComponent(unquoted);
    } catch {
      return unquoted;
    }
  }
  return undefined;
}
