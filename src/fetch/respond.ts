import { refusalAnswer } from '../http/errors.js';
import type { HttpError } from '../http/errors.js';

/**
 * An HttpError as a Fetch `Response`: its status, a single line of plain text saying why, and its
 * headers. `Connection` is left out: it is the server's to decide, and a Fetch response may not set it.
 */
export function errorResponse(error: HttpError, extra: Record<string, string>): Response {
  const { body, headers } = refusalAnswer(error, extra);
  delete headers.Connection;
  return new Response(body, { status: error.status, headers });
}

/** A 200 answer whose body is one line of text (an event's id). */
export function textResponse(text: string, headers: Record<string, string>): Response {
  return new Response(text, { status: 200, headers });
}
