import { ServerResponse } from 'node:http';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { SubscriberSink } from '../hub/subscriber.js';
import { giveBackStreamSocket, takeStreamSocket } from './stream-socket.js';

const CRLF = Buffer.from('\r\n');

/**
 * Frames wrapped as HTTP/1.1 chunks, one per shared frame: like the frames themselves, a chunk is
 * built once per event and written to every subscriber.
 */
const chunks = new WeakMap<Buffer, Buffer>();

function chunkOf(frame: Buffer): Buffer {
  let chunk = chunks.get(frame);
  if (chunk === undefined) {
    chunk = Buffer.concat([Buffer.from(`${frame.length.toString(16)}\r\n`, 'latin1'), frame, CRLF]);
    chunks.set(frame, chunk);
  }
  return chunk;
}

/**
 * Node keeps a response's head text for the response's whole life (only to know it was sent), as
 * the rope of concatenations it was built from: about 1 KB per open stream. Once it is sent, a flat
 * copy of the same text takes a third of that.
 */
function compactSentHead(res: ServerResponse): void {
  const sent = res as unknown as { _header?: unknown; _headerSent?: unknown };
  if (sent._headerSent === true && typeof sent._header === 'string') {
    sent._header = Buffer.from(sent._header, 'latin1').toString('latin1');
  }
}

/**
 * Whether `res.write` is Node's own. An application that wraps it (compression, a byte counter)
 * must see every byte, and going around it would put raw chunks beside its output. A wrapped `end`
 * alone (sessions save on it) is no reason to give up the takeover: a taken stream never ends its
 * response, as it never finishes.
 */
function unwrapped(res: ServerResponse): boolean {
  return res.write === ServerResponse.prototype.write;
}

/** The last chunk of a chunked body: the stream ended normally. */
const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');

/**
 * Adapts a streaming HTTP response to the hub's subscriber sink. Once the response head is out,
 * frames go straight to the socket as ready-made chunks: `ServerResponse.write` would frame each
 * write anew, cork the socket and schedule an uncork per response, which at 10,000 subscribers is
 * most of the hub's own CPU time. Where it can, the sink also takes the socket away from
 * `node:http` (see `takeStreamSocket`), so that an open stream costs its socket and little more.
 */
export class ResponseSink implements SubscriberSink {
  /** Until the head is written; dropped once the socket is taken over, so neither is kept. */
  private req: IncomingMessage | undefined;
  private res: ServerResponse | undefined;
  /** Set once the head is written, when the response uses chunked encoding as Node set it up. */
  private socket: Socket | undefined;
  /** The socket is ours: the stream ends with the connection. */
  private taken: StreamSocketSink | undefined;

  /** `onClose` runs once, when the stream's connection closes (or the response does). */
  constructor(
    req: IncomingMessage,
    res: ServerResponse,
    private readonly onClose: () => void,
  ) {
    this.req = req;
    this.res = res;
    res.once('close', onClose);
  }

  write(chunk: Buffer): void {
    const socket = this.socket;
    if (socket !== undefined) return writeChunk(socket, chunk);
    const res = this.res as ServerResponse;
    if (res.destroyed) return;
    res.write(chunk);
    if (this.req !== undefined) this.afterHead(this.req, res);
  }

  private afterHead(req: IncomingMessage, res: ServerResponse): void {
    this.req = undefined;
    // `chunkedEncoding` is how Node marks a response it frames as chunks; anything else (HTTP/1.0,
    // a Content-Length, HTTP/2, a wrapped response) stays on `res.write`.
    const chunked = (res as unknown as { chunkedEncoding?: unknown }).chunkedEncoding === true;
    if (!chunked || !res.socket || !unwrapped(res)) return;
    this.socket = res.socket;
    // Not now: the head may have been written from inside the HTTP parser's callback, and the
    // parser must not be freed while it runs (a request pipelined behind this one is parsed by then).
    process.nextTick(() => this.takeSocket(req, res));
  }

  private takeSocket(req: IncomingMessage, res: ServerResponse): void {
    if (res.writableEnded || res.destroyed) return;
    res.removeListener('close', this.onClose);
    const taken = takeStreamSocket(req, res);
    if (taken === undefined) {
      res.once('close', this.onClose);
      compactSentHead(res);
      return;
    }
    this.taken = new StreamSocketSink(taken, this.onClose, true);
    this.res = undefined;
  }

  cork(): void {
    if (this.socket) this.socket.cork();
    else this.res?.cork();
  }

  uncork(): void {
    if (this.socket) uncorkWithoutStack(this.socket);
    else this.res?.uncork();
  }

  get bufferedBytes(): number {
    return this.socket ? this.socket.writableLength : (this.res?.writableLength ?? 0);
  }

  onceDrained(callback: () => void): void {
    onceDrained(this.socket ?? this.res, callback);
  }

  end(): void {
    if (this.taken !== undefined) {
      this.taken.end();
      this.taken = undefined;
      this.socket = undefined;
      return;
    }
    const res = this.res;
    if (res === undefined) return;
    // Ended before its headers (shutdown or expiry while history was being read): an empty 200
    // without text/event-stream would make an EventSource give up for good, a reset makes it retry.
    if (!res.headersSent) return void res.destroy();
    res.end();
  }

  destroy(): void {
    if (this.taken) this.taken.destroy();
    else this.res?.destroy();
  }
}

/**
 * The sink of an event stream whose connection is the hub's alone, no HTTP parser reading it (see
 * `adoptStreamSocket`): its head is written, and frames go to the socket as chunks. Its end hands
 * the connection back to its server for the client's next request.
 */
export class StreamSocketSink implements SubscriberSink {
  private open = true;

  /** `onClose` runs once: when the stream ends, or when its connection closes first. */
  constructor(
    private readonly socket: Socket,
    private readonly onClose: () => void,
    private headSent = false,
  ) {
    // `on`, not `once`: a socket closes once, and `once` keeps a wrapper per stream.
    socket.on('close', onClose);
  }

  /** The head, held back to go out in one buffer with the stream's first frame. */
  private pendingHead: string | undefined;

  /** Writes the stream's head (status line and headers, as text): before any frame. */
  writeHead(head: string): void {
    this.headSent = true;
    // The hub writes the opening frame on its next flush: one buffer and one syscall for both.
    this.pendingHead = head;
  }

  write(chunk: Buffer): void {
    const head = this.pendingHead;
    if (head === undefined) return writeChunk(this.socket, chunk);
    this.pendingHead = undefined;
    if (!this.socket.destroyed) writeWithoutStack(this.socket, headAndChunk(head, chunk));
  }

  cork(): void {
    this.socket.cork();
  }

  uncork(): void {
    uncorkWithoutStack(this.socket);
  }

  get bufferedBytes(): number {
    return this.socket.writableLength;
  }

  onceDrained(callback: () => void): void {
    onceDrained(this.socket, callback);
  }

  end(): void {
    if (!this.open) return;
    this.open = false;
    // Ended before its head (see ResponseSink.end): a reset, and `onClose` runs on 'close'.
    if (!this.headSent) return void this.socket.destroy();
    if (this.pendingHead !== undefined) this.socket.write(this.pendingHead, 'latin1');
    this.pendingHead = undefined;
    // The stream is over even though the connection may live on for the client's next request.
    this.socket.removeListener('close', this.onClose);
    giveBackStreamSocket(this.socket, LAST_CHUNK);
    this.onClose();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** The stream was refused before its head: the connection, which lives on, is no longer its. */
  abandon(): void {
    if (!this.open) return;
    this.open = false;
    this.socket.removeListener('close', this.onClose);
    this.onClose();
  }
}

function writeChunk(socket: Socket, frame: Buffer): void {
  // A reset connection whose 'close' is still queued: writing would build an error (with its
  // stack) per write, which in a reconnect storm was the largest JavaScript cost.
  if (!socket.destroyed) writeWithoutStack(socket, chunkOf(frame));
}

/**
 * Writes to a stream's socket with stack traces off. The first write to a peer that has just reset
 * fails with an errno error, and Node captures its stack and formats it at once (the writable reads
 * `error.stack`): about 25 µs per socket. A flush right after a storm's cut meets thousands of such
 * sockets, and that was a tenth of the storm's CPU. The error only tells the stream that its
 * connection is gone; a stack would point into this write.
 */
function writeWithoutStack(socket: Socket, data: Buffer): void {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    socket.write(data);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** Writes what a cork held back, with stack traces off (see writeWithoutStack). */
function uncorkWithoutStack(socket: Socket): void {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    socket.uncork();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** A stream's head and its first frame as one chunked-body buffer. */
function headAndChunk(head: string, frame: Buffer): Buffer {
  const size = `${frame.length.toString(16)}\r\n`;
  const headBytes = Buffer.byteLength(head, 'latin1');
  const buffer = Buffer.allocUnsafe(headBytes + size.length + frame.length + 2);
  let offset = buffer.write(head, 0, 'latin1');
  offset += buffer.write(size, offset, 'latin1');
  offset += frame.copy(buffer, offset);
  buffer.write('\r\n', offset, 'latin1');
  return buffer;
}

function onceDrained(target: Socket | ServerResponse | undefined, callback: () => void): void {
  // Node emits 'drain' only after a write that passed the high-water mark; below it, look again
  // shortly (the hub asks only when its backlog is far above that mark).
  if (target?.writableNeedDrain === true) target.once('drain', callback);
  else setTimeout(callback, 5);
}
