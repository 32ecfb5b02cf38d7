import type { HttpError } from '../http/errors.js';

/**
 * An HttpError as a Fetch `Response`: its status, a single line of plain text saying why, and its
 * headers. `Connection` is left out: it is the server's to decide, and a Fetch response may not set it.
 */
export function errorResponse(error: HttpError, extra: Record<string, string>): Response {
  const body = error.message.replace(/[\r\n]+/g, ' ') + '\n';
  const headers = { ...error.headers, ...extra };
  delete headers.Connection;
  return new Response(body, {
    status: error.status,
    headers: { ...headers, 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' },
  });
}

/** A 200 answer whose body is one line of text (an event's id). */
export function textResponse(text: string, headers: Record<string, string>): Response {
  return new Response(text, { status: 200, headers });
}
