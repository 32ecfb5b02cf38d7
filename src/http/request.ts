import type { HubRequest } from './hub-request.js';

/** A header's value by lower-case name; of a repeated header (an array in Node), the first. */
export function headerOf(req: HubRequest, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Query parameters of a request (the base is irrelevant: only the path and query are read). */
export function queryOf(req: HubRequest): URLSearchParams {
  return new URL(req.url ?? '/', 'http://hub.invalid').searchParams;
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
