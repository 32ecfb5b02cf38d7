import type { BodyLimits } from '../http/body.js';
import { HttpError } from '../http/errors.js';
import type { HubRequest, RequestBody } from '../http/hub-request.js';

/**
 * The hub's view of a Fetch `Request`: its method, path and query, and headers by lower-case name.
 * A server that leaves `Host` out of the headers still has it in the URL: the cookie's same-origin
 * check needs it.
 */
export function hubRequestOf(request: Request): HubRequest {
  const url = new URL(request.url);
  const headers: Record<string, string> = {};
  request.headers.forEach((value, name) => {
    headers[name] = value;
  });
  headers.host ??= url.host;
  return { method: request.method, url: url.pathname + url.search, headers };
}

/** A Fetch request's body; `answered` runs the callbacks once the handler has its answer. */
export function fetchRequestBody(request: Request): RequestBody & { answered(): void } {
  const callbacks: (() => void)[] = [];
  return {
    parsed: undefined,
    read: (limits) => readFetchBody(request, limits),
    onAnswered: (callback) => void callbacks.push(callback),
    answered: () => {
      for (const callback of callbacks.splice(0)) callback();
    },
  };
}

/**
 * Reads a Fetch request's body within its limits, as `readBody` does for node:http: a declared
 * size past the limit or the budget is refused before any byte is read, and the read stops (the
 * body cancelled) at the first byte past either, or when the deadline passes.
 */
export async function readFetchBody(request: Request, limits: BodyLimits): Promise<Buffer> {
  const { maxBytes, timeoutMs = 0, reservation } = limits;
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > maxBytes) throw tooLarge(maxBytes);
  if (declared !== null) reservation?.reserveUpTo(Number(declared));
  const reader = request.body?.getReader();
  if (reader === undefined) return Buffer.alloc(0);
  let deadline: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    if (timeoutMs > 0) deadline = setTimeout(() => reject(tooSlow(timeoutMs)), timeoutMs);
  });
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await Promise.race([reader.read(), expired]);
      if (done) return Buffer.concat(chunks, size);
      size += value.byteLength;
      if (size > maxBytes) throw tooLarge(maxBytes);
      reservation?.reserveUpTo(size);
      chunks.push(value);
    }
  } catch (error) {
    chunks.length = 0;
    reservation?.release();
    reader.cancel().catch(() => {});
    throw error;
  } finally {
    clearTimeout(deadline);
  }
}

function tooLarge(maxBytes: number): HttpError {
  return new HttpError(413, `Request body too large: at most ${maxBytes} bytes.`);
}

function tooSlow(timeoutMs: number): HttpError {
  return new HttpError(408, `Request body too slow: not received within ${timeoutMs} ms.`);
}
