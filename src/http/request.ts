import type { HubRequest } from './hub-request.js';

/** A header's value by lower-case name; of a repeated header (an array in Node), the first. */
export function headerOf(req: HubRequest, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** A request's path, without its query. */
export function pathOf(req: Pick<HubRequest, 'url'>): string {
  const url = req.url ?? '/';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/**
 * Query parameters of a request. Read from the text after `?` (up to a `#`), as the URL parser
 * would give them for a request target: building a whole URL only to read its query cost twice as
 * much, and more to compile in a fresh process.
 */
export function queryOf(req: HubRequest): URLSearchParams {
  const url = req.url ?? '/';
  const start = url.indexOf('?');
  if (start === -1) return new URLSearchParams();
  const end = url.indexOf('#', start);
  return new URLSearchParams(end === -1 ? url.slice(start + 1) : url.slice(start + 1, end));
}

/**
 * A header value as the client meant it. Node decodes header bytes as Latin-1, while browsers send
 * `Last-Event-ID` as UTF-8, so non-ASCII ids are re-decoded.
 */
export function utf8Header(req: HubRequest, name: string): string | undefined {
  const text = headerOf(req, name);
  if (text === undefined || !/[\u0080-\u00ff]/.test(text)) return text;
  return Buffer.from(text, 'latin1').toString('utf8');
}

/** Makes a string safe as a header value: non-printable-ASCII characters are percent-encoded. */
export function headerSafe(value: string): string {
  return /^[\x20-\x7e]*$/.test(value) ? value : encodeURI(value);
}
