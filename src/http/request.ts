import type { IncomingMessage } from 'node:http';

/** Query parameters of a request (the base is irrelevant: only the path and query are read). */
export function queryOf(req: IncomingMessage): URLSearchParams {
  return new URL(req.url ?? '/', 'http://hub.invalid').searchParams;
}

/**
 * A header value as the client meant it. Node decodes header bytes as Latin-1, while browsers send
 * `Last-Event-ID` as UTF-8, so non-ASCII ids are re-decoded.
 */
export function utf8Header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || !/[\u0080-\u00ff]/.test(text)) return text;
  return Buffer.from(text, 'latin1').toString('utf8');
}

/** Makes a string safe as a header value: non-printable-ASCII characters are percent-encoded. */
export function headerSafe(value: string): string {
  return /^[\x20-\x7e]*$/.test(value) ? value : encodeURI(value);
}
