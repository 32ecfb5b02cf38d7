/**
 * The error codes a caller can branch on, the same whichever layer raised the error: the hub and
 * its stores raise the first four and know nothing of HTTP; the HTTP layer maps every code to a
 * status in one table (src/http/errors.ts). Imports nothing.
 */
export const ERROR_CODES = [
  /** The input cannot be accepted as given (400). */
  'invalid_input',
  /** The input clashes with what is stored, e.g. a supplied id used by a different event (409). */
  'conflict',
  /** An `Idempotency-Key` already used, within its window, for a different request (422). */
  'idempotency_key_reused',
  /** The store cannot take or read events now; nothing was stored, try again (503). */
  'store_unavailable',
  /** No usable credentials (401). */
  'unauthorized',
  /** Credentials that do not grant this (403). */
  'forbidden',
  'not_found',
  'method_not_allowed',
  /** The request did not arrive in time (408). */
  'request_timeout',
  /** The request body is larger than allowed (413). */
  'too_large',
  'unsupported_media_type',
  /** Too many requests or streams from one client (429). */
  'rate_limited',
  /** The hub cannot serve this now (full, shutting down, keys unreachable); try again (503). */
  'unavailable',
  /** A bug or an unexpected failure (500). */
  'internal',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** An error raised by ssehub on purpose, with a stable `code` and a one-line message saying why. */
export abstract class SsehubError extends Error {
  abstract readonly code: ErrorCode;
}
