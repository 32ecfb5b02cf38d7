import type { ServerResponse } from 'node:http';
import { SsehubError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import { endWith } from './end-with.js';

/** The status each error code is answered with: the one place codes meet HTTP. */
const STATUS_OF_CODE: Readonly<Record<ErrorCode, number>> = {
  invalid_input: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  request_timeout: 408,
  conflict: 409,
  idempotency_key_reused: 422,
  too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
  store_unavailable: 503,
};

/** The code of an HttpError made from a bare status: the first code answered with it. */
function codeOfStatus(status: number): ErrorCode {
  const entry = Object.entries(STATUS_OF_CODE).find(([, answered]) => answered === status);
  if (entry) return entry[0] as ErrorCode;
  return status >= 500 ? 'internal' : 'invalid_input';
}

/** An HTTP answer other than success: a status, a one-line reason, optional headers, and its code. */
export class HttpError extends SsehubError {
  readonly code: ErrorCode;

  constructor(
    readonly status: number,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
    code: ErrorCode = codeOfStatus(status),
  ) {
    super(message);
    this.name = 'HttpError';
    this.code = code;
  }

  /** The same answer with more headers. */
  withHeaders(headers: Readonly<Record<string, string>>): HttpError {
    return new HttpError(this.status, this.message, { ...this.headers, ...headers }, this.code);
  }
}

/** What a handler says when a request fails: the leading words of a reason, and how long to wait. */
export interface FailureContext {
  /** Leads a store or internal failure's reason, e.g. `Event not stored`. */
  action: string;
  /** Seconds a client is told to wait after a 503. */
  retryAfterSeconds: number;
}

/**
 * The HTTP answer for anything a request handler caught. An HttpError is answered as it is; an
 * SsehubError by its code (a store failure with `Retry-After`); anything else is a 500 with code
 * `internal`, which the handler also reports (it is a bug or a failure nobody anticipated).
 */
export function answerFor(error: unknown, context: FailureContext): HttpError {
  if (error instanceof HttpError) return error;
  if (!(error instanceof SsehubError)) {
    return new HttpError(500, `${context.action}: internal error.`, {}, 'internal');
  }
  const status = STATUS_OF_CODE[error.code];
  if (status < 500) return new HttpError(status, error.message, {}, error.code);
  return new HttpError(
    status,
    `${context.action}: ${error.message}`,
    { 'Retry-After': String(context.retryAfterSeconds) },
    error.code,
  );
}

/**
 * What every adapter answers a refusal with: a single line of plain text saying why, never cached,
 * and the error's headers with `extra` after them (`Content-Length` is the adapter's to add).
 */
export function refusalAnswer(
  error: HttpError,
  extra: Readonly<Record<string, string>> = {},
): { body: string; headers: Record<string, string> } {
  return {
    body: error.message.replace(/[\r\n]+/g, ' ') + '\n',
    headers: {
      ...error.headers,
      ...extra,
      'Content-Type': 'text/plain; charset=utf-8',
      'Cache-Control': 'no-store',
    },
  };
}

/** Answers with the status and a single line of plain text saying why. */
export function sendError(res: ServerResponse, error: HttpError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const { body, headers } = refusalAnswer(error);
  // HTTP/2 (Node's compatibility response has a `stream`) forbids connection-specific headers.
  if ('stream' in res) delete headers.Connection;
  res.writeHead(error.status, { ...headers, 'Content-Length': Buffer.byteLength(body) });
  endWith(res, body);
}
