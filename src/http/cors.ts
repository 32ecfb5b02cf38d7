import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError, sendError } from './errors.js';

/** Request headers a cross-origin client may send (Mercure's list, plus the form's type). */
const ALLOWED_HEADERS = [
  'authorization',
  'cache-control',
  'last-event-id',
  'mercure-last-event-id',
  'content-type',
];
/** Response headers a cross-origin script may read: the resume point, waits and token errors. */
const EXPOSED_HEADERS = 'Last-Event-ID, Mercure-Last-Event-ID, Retry-After, WWW-Authenticate';
const ALLOWED_METHODS = ['GET', 'POST'];

/**
 * Cross-origin access to the hub. Origins are an allowlist, answered with the request's own origin
 * and `Access-Control-Allow-Credentials: true` so cookie authorization works from those pages; `*`
 * alone lets any origin in without credentials. With no origins configured, no CORS header is sent
 * and only same-origin pages can use the hub from a browser.
 */
export class CorsPolicy {
  private readonly anyOrigin: boolean;
  private readonly origins: ReadonlySet<string>;

  constructor(origins: readonly string[]) {
    this.anyOrigin = origins.includes('*');
    if (this.anyOrigin && origins.length > 1) {
      throw new RangeError('CORS origins: "*" cannot be combined with named origins');
    }
    this.origins = new Set(origins.filter((origin) => origin !== '*').map(normalizeOrigin));
  }

  get enabled(): boolean {
    return this.anyOrigin || this.origins.size > 0;
  }

  /** Whether pages from this origin may send credentials (cookies) to the hub. */
  allowsCredentialsFrom(origin: string): boolean {
    return this.origins.has(origin.toLowerCase());
  }

  /** Adds the CORS headers for an actual (non-preflight) request. */
  apply(req: IncomingMessage, res: ServerResponse): void {
    if (!this.enabled) return;
    res.appendHeader('Vary', 'Origin');
    const origin = req.headers.origin;
    if (origin === undefined) return;
    if (this.allowsCredentialsFrom(origin)) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
    } else if (this.anyOrigin) {
      res.setHeader('Access-Control-Allow-Origin', '*');
    } else {
      return;
    }
    res.setHeader('Access-Control-Expose-Headers', EXPOSED_HEADERS);
  }

  /** Answers an `OPTIONS` request: a CORS preflight, or a plain `Allow` answer. */
  preflight(req: IncomingMessage, res: ServerResponse): void {
    const origin = req.headers.origin;
    const method = req.headers['access-control-request-method'];
    if (origin === undefined || method === undefined || !this.enabled) {
      res.writeHead(204, { Allow: 'GET, POST, OPTIONS' });
      res.end();
      return;
    }
    const credentials = this.allowsCredentialsFrom(origin);
    if (!credentials && !this.anyOrigin) {
      return sendError(res, new HttpError(403, `CORS: origin ${origin} is not allowed.`, { Vary: 'Origin' }));
    }
    if (!ALLOWED_METHODS.includes(method)) {
      return sendError(res, new HttpError(403, `CORS: method ${method} is not allowed (use GET or POST).`));
    }
    const requested = (req.headers['access-control-request-headers'] ?? '')
      .split(',')
      .map((name) => name.trim().toLowerCase())
      .filter((name) => name !== '');
    const refused = requested.find((name) => !ALLOWED_HEADERS.includes(name));
    if (refused !== undefined) {
      return sendError(
        res,
        new HttpError(
          403,
          `CORS: request header ${refused} is not allowed (allowed: ${ALLOWED_HEADERS.join(', ')}).`,
        ),
      );
    }
    res.writeHead(204, {
      'Access-Control-Allow-Origin': credentials ? origin : '*',
      ...(credentials ? { 'Access-Control-Allow-Credentials': 'true' } : {}),
      'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
      'Access-Control-Allow-Headers': ALLOWED_HEADERS.join(', '),
      'Access-Control-Max-Age': '600',
      Vary: 'Origin',
    });
    res.end();
  }
}

/** `https://Example.com:443/` → `https://example.com`, as browsers serialize an Origin header. */
export function normalizeOrigin(origin: string): string {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    throw new RangeError(`CORS origins: ${JSON.stringify(origin)} is not an origin like https://app.example`);
  }
  if (url.origin === 'null' || url.pathname.length > 1 || url.search || url.hash) {
    throw new RangeError(`CORS origins: ${JSON.stringify(origin)} is not an origin like https://app.example`);
  }
  return url.origin;
}

/** Whether a browser request comes from a page served by the hub itself. */
export function isSameOrigin(req: IncomingMessage, origin: string): boolean {
  // HTTP/2 carries the host in the `:authority` pseudo-header instead of `Host`.
  const authority = req.headers[':authority'];
  const host = (typeof authority === 'string' ? authority : req.headers.host) ?? '';
  try {
    return new URL(origin).host === host.toLowerCase();
  } catch {
    return false;
  }
}
