import type { Server } from 'node:http';

/**
 * How often Node checks requests against `headersTimeout` and `requestTimeout`: a request is cut
 * between 1× and 1.25× its timeout, not up to 30 s (Node's default period) late.
 */
export function connectionsCheckingInterval(requestTimeoutMs: number): number {
  return Math.max(50, Math.min(30_000, Math.floor(requestTimeoutMs / 4)));
}

/** An idle connection outlives a stalled request by this much, so the request gets its 408 first. */
const IDLE_AFTER_REQUEST_TIMEOUT_MS = 1000;

/**
 * Time limits for what is not an event stream, on a plain `node:http` server:
 * - `requestTimeout`/`headersTimeout`: a request's headers and body must arrive within the timeout
 *   (Node answers 408 and closes). It ends once the request is received, so a stream, whose request
 *   is only its headers, is not affected however long its response lasts.
 * - `timeout`: a connection that sends nothing at all (no request yet, or stalled mid-request) is
 *   closed. Node sets it on each connection; the subscribe handler clears it on its stream's
 *   socket (`setTimeout(0)`), and a handed-back stream connection gets it again with its next
 *   request (see stream-socket.ts).
 * - `keepAliveTimeout` (Node's 5 s) closes a keep-alive connection idle between requests.
 */
export function applyRequestTimeouts(server: Server, requestTimeoutMs: number): void {
  server.requestTimeout = requestTimeoutMs;
  server.headersTimeout = requestTimeoutMs;
  server.timeout = requestTimeoutMs + IDLE_AFTER_REQUEST_TIMEOUT_MS;
}
