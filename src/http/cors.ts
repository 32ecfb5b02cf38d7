import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError, sendError } from './errors.js';
import type { HubRequest } from './hub-request.js';
import { headerOf } from './request.js';

/** Request headers a cross-origin client may send (Mercure's list, plus the form's type). */
const ALLOWED_HEADERS = [
  'authorization',
  'cache-control',
  'last-event-id',
  'mercure-last-event-id',
  'content-type',
];
/** Response headers a cross-origin script may read: the resume point, waits and token errors. */
// Link: the subscriptions API's cursor (draft-08's `rel="mercure"; last-event-id=…`).
const EXPOSED_HEADERS = 'Last-Event-ID, Link, Mercure-Last-Event-ID, Retry-After, WWW-Authenticate';
const ALLOWED_METHODS = ['GET', 'POST'];
const ALLOW = 'GET, POST, OPTIONS';

/** The answer to an `OPTIONS` request, whichever server sends it. */
export interface PreflightAnswer {
  status: 204;
  headers: Record<string, string>;
}

/**
 * Cross-origin access to the hub. Origins are an allowlist, answered with the request's own origin
 * and `Access-Control-Allow-Credentials: true` so cookie authorization works from those pages; `*`
 * alone lets any origin in without credentials. With no origins configured, no CORS header is sent
 * and only same-origin pages can use the hub from a browser. The policy decides; the server
 * adapters (node:http here, Fetch in `src/fetch`) only write its answers.
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

  /**
   * The CORS headers of an actual (non-preflight) request's answer, `Vary` apart (see `varies`):
   * none when CORS is off or the origin is not allowed.
   */
  headersFor(req: HubRequest): Record<string, string> {
    const origin = this.enabled ? headerOf(req, 'origin') : undefined;
    if (origin === undefined) return {};
    if (this.allowsCredentialsFrom(origin)) {
      return {
        'Access-Control-Allow-Origin': origin,
        'Access-Control-Allow-Credentials': 'true',
        'Access-Control-Expose-Headers': EXPOSED_HEADERS,
      };
    }
    if (this.anyOrigin) {
      return { 'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': EXPOSED_HEADERS };
    }
    return {};
  }

  /** Whether answers depend on the `Origin` header (`Vary: Origin`, added to any other Vary). */
  get varies(): boolean {
    return this.enabled;
  }

  /** The CORS headers of an actual request's answer, `Vary: Origin` included when CORS is on. */
  answerHeaders(req: HubRequest): Record<string, string> {
    const headers = this.headersFor(req);
    if (this.varies) headers.Vary = 'Origin';
    return headers;
  }

  /** Adds the CORS headers for an actual (non-preflight) request to a node:http response. */
  apply(req: IncomingMessage, res: ServerResponse): void {
    if (!this.varies) return;
    res.appendHeader('Vary', 'Origin');
    for (const [name, value] of Object.entries(this.headersFor(req))) res.setHeader(name, value);
  }

  /**
   * Answers an `OPTIONS` request: a CORS preflight, or a plain `Allow` answer. Throws an HttpError
   * (403) for an origin, method or header that is not allowed.
   */
  preflightAnswer(req: HubRequest): PreflightAnswer {
    const origin = headerOf(req, 'origin');
    const method = headerOf(req, 'access-control-request-method');
    if (origin === undefined || method === undefined || !this.enabled) {
      return { status: 204, headers: { Allow: ALLOW } };
    }
    const credentials = this.allowsCredentialsFrom(origin);
    if (!credentials && !this.anyOrigin) {
      throw new HttpError(403, `CORS: origin ${origin} is not allowed.`, { Vary: 'Origin' });
    }
    if (!ALLOWED_METHODS.includes(method)) {
      throw new HttpError(403, `CORS: method ${method} is not allowed (use GET or POST).`);
    }
    const requested = (headerOf(req, 'access-control-request-headers') ?? '')
      .split(',')
      .map((name) => name.trim().toLowerCase())
      .filter((name) => name !== '');
    const refused = requested.find((name) => !ALLOWED_HEADERS.includes(name));
    if (refused !== undefined) {
      throw new HttpError(
        403,
        `CORS: request header ${refused} is not allowed (allowed: ${ALLOWED_HEADERS.join(', ')}).`,
      );
    }
    return {
      status: 204,
      headers: {
        'Access-Control-Allow-Origin': credentials ? origin : '*',
        ...(credentials ? { 'Access-Control-Allow-Credentials': 'true' } : {}),
        'Access-Control-Allow-Methods': ALLOW,
        'Access-Control-Allow-Headers': ALLOWED_HEADERS.join(', '),
        'Access-Control-Max-Age': '600',
        Vary: 'Origin',
      },
    };
  }

  /** Answers an `OPTIONS` request on a node:http response. */
  preflight(req: IncomingMessage, res: ServerResponse): void {
    let answer: PreflightAnswer;
    try {
      answer = this.preflightAnswer(req);
    } catch (error) {
      return sendError(res, error as HttpError);
    }
    res.writeHead(answer.status, answer.headers);
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
export function isSameOrigin(req: HubRequest, origin: string): boolean {
  // HTTP/2 carries the host in the `:authority` pseudo-header instead of `Host`.
  const host = headerOf(req, ':authority') ?? headerOf(req, 'host') ?? '';
  try {
    return new URL(origin).host === host.toLowerCase();
  } catch {
    return false;
  }
}
