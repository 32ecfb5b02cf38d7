import type { HubRequest } from '../http/hub-request.js';
import { headerOf, queryOf } from '../http/request.js';
import { base64url } from 'jose';

/** Where a request carried its token. */
export type TokenSource = 'header' | 'query' | 'cookie';

export interface PresentedToken {
  token: string;
  source: TokenSource;
}

/** The cookie name draft-07 of the Mercure protocol recommends. */
export const TOKEN_COOKIE = 'mercureAuthorization';

/** The cookie name of Mercure draft-08 (1.0); the `__Secure-` prefix makes browsers send it over HTTPS only. */
export const ACCESS_TOKEN_COOKIE = '__Secure-mercure_access_token';

/**
 * The token a request presents, in Mercure's precedence: the `Authorization: Bearer` header, then
 * the `authorization` query parameter (draft-07), then the cookies: `__Secure-mercure_access_token`
 * (draft-08) before `mercureAuthorization`. A higher source that is present hides the lower ones
 * entirely, even when it is malformed, so a request never succeeds on a token other than the one
 * the client meant to send. The prefixed cookie wins because a browser accepts it only from a
 * secure page with `Secure` set: a page on plain HTTP cannot plant one to shadow it.
 */
export function presentedToken(req: HubRequest): PresentedToken | undefined {
  const header = headerOf(req, 'authorization');
  if (header !== undefined) {
    const match = /^Bearer[ ]+(\S*)\s*$/i.exec(header);
    return { token: match?.[1] ?? '', source: 'header' };
  }
  const query = queryOf(req).get('authorization');
  if (query !== null) return { token: query, source: 'query' };
  const cookies = headerOf(req, 'cookie');
  const cookie = cookieValue(cookies, ACCESS_TOKEN_COOKIE) ?? cookieValue(cookies, TOKEN_COOKIE);
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
