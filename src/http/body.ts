import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BodyReservation } from './body-budget.js';
import { HttpError } from './errors.js';
import type { RequestBody } from './hub-request.js';

export interface BodyLimits {
  /** Largest body; a larger one is refused with 413 before it is buffered. */
  maxBytes: number;
  /** The whole body must arrive within this (ms) of the read starting, else 408; 0: no deadline. */
  timeoutMs?: number;
  /** Where the body's bytes are accounted hub-wide (503 past the budget); the caller releases it. */
  reservation?: BodyReservation;
}

/**
 * The body of a node:http request. A framework that parsed it already (Express's body parsers set
 * `req.body`) has read the stream to its end: its string or bytes are taken, and an object of
 * fields only once the stream is over (an empty `{}` is what Express leaves for a type it skipped).
 */
export function nodeRequestBody(req: IncomingMessage, res: ServerResponse): RequestBody {
  const parsed = (req as IncomingMessage & { body?: unknown }).body;
  const usable =
    typeof parsed === 'string' ||
    Buffer.isBuffer(parsed) ||
    (typeof parsed === 'object' && req.readableEnded);
  return {
    parsed: usable ? parsed : undefined,
    read: (limits) => readBody(req, limits),
    onAnswered: (callback) => void res.on('close', callback),
  };
}

/**
 * Reads a request body within its limits. Every refusal asks for the connection to be closed: the
 * rest of the body is not read, and a connection that still carries it cannot serve a next request.
 */
export function readBody(req: IncomingMessage, limits: BodyLimits): Promise<Buffer> {
  const { maxBytes, timeoutMs = 0, reservation } = limits;
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) {
    return Promise.reject(tooLarge(maxBytes));
  }
  try {
    // Reserving the declared size up front refuses an over-budget body before any of it is read.
    if (declared !== undefined) reservation?.reserveUpTo(Number(declared));
  } catch (error) {
    return Promise.reject(error as Error);
  }
  const buffered = wholeBufferedBody(req);
  if (buffered !== undefined) return takeWholeBody(buffered, limits);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (error: Error | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      if (error === undefined) return resolve(Buffer.concat(chunks, size));
      chunks.length = 0;
      reservation?.release();
      reject(error);
    };
    const deadline =
      timeoutMs > 0 ? setTimeout(() => settle(tooSlow(timeoutMs)), timeoutMs).unref() : undefined;
    req.on('data', (chunk: Buffer) => {
      if (settled) return;
      size += chunk.length;
      if (size > maxBytes) return settle(tooLarge(maxBytes));
      try {
        reservation?.reserveUpTo(size);
      } catch (error) {
        return settle(error as Error);
      }
      chunks.push(chunk);
    });
    // Over HTTP/2 a stream reset by the client still ends its request stream: without this check a
    // truncated body would be taken as the whole one.
    const abandoned = () =>
      settle(new HttpError(400, 'Request body incomplete: the client abandoned the request.'));
    req.on('aborted', abandoned);
    req.on('end', () => {
      if ((req as { aborted?: boolean }).aborted) return abandoned();
      settle(undefined);
    });
    req.on('error', (error) => settle(error));
  });
}

/** A body whose bytes have all arrived, within its limits: 413, or 503 past the hub-wide budget. */
export function takeWholeBody(body: Buffer, limits: BodyLimits): Promise<Buffer> {
  try {
    if (body.length > limits.maxBytes) throw tooLarge(limits.maxBytes);
    limits.reservation?.reserveUpTo(body.length);
  } catch (error) {
    limits.reservation?.release();
    return Promise.reject(error as Error);
  }
  return Promise.resolve(body);
}

/**
 * The body, when Node has already parsed all of it: a small body arrives in the packet of its
 * headers, and is complete by the time a handler that awaited anything reads it. Taken at once, it
 * needs no listeners, promise or deadline timer. Undefined when some of it may still be coming.
 */
function wholeBufferedBody(req: IncomingMessage): Buffer | undefined {
  if (req.httpVersionMajor !== 1 || !req.complete || req.readableFlowing === true) return undefined;
  if ((req as { aborted?: boolean }).aborted) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for (let chunk = req.read() as Buffer | null; chunk !== null; chunk = req.read() as Buffer | null) {
    chunks.push(chunk);
    size += chunk.length;
  }
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
}

/**
 * The error as answered to a request whose body has not been read to its end: over HTTP/1.1 the
 * connection is closed after the answer, rather than Node reading (and discarding) the rest of a
 * body the client may still be sending.
 */
export function closingUnreadBody(req: IncomingMessage, error: HttpError): HttpError {
  if (req.complete || req.httpVersionMajor !== 1 || error.headers.Connection !== undefined) return error;
  return error.withHeaders({ Connection: 'close' });
}

function tooLarge(maxBytes: number): HttpError {
  return new HttpError(413, `Request body too large: at most ${maxBytes} bytes.`, { Connection: 'close' });
}

function tooSlow(timeoutMs: number): HttpError {
  return new HttpError(408, `Request body too slow: not received within ${timeoutMs} ms.`, {
    Connection: 'close',
  });
}
