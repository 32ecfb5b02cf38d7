import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { SubscriberSink } from '../hub/subscriber.js';

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
 * Adapts a streaming HTTP response to the hub's subscriber sink. Once the response head is out,
 * frames go straight to the socket as ready-made chunks: `ServerResponse.write` would frame each
 * write anew, cork the socket and schedule an uncork per response, which at 10,000 subscribers is
 * most of the hub's own CPU time.
 */
export class ResponseSink implements SubscriberSink {
  /** Set once the head is written, when the response uses chunked encoding as Node set it up. */
  private socket: Socket | undefined;

  constructor(private readonly res: ServerResponse) {}

  write(chunk: Buffer): void {
    const socket = this.socket;
    if (socket !== undefined) {
      socket.write(chunkOf(chunk));
      return;
    }
    this.res.write(chunk);
    // The head went out with that write. `chunkedEncoding` is how Node marks a response it frames
    // as chunks; anything else (HTTP/1.0, a Content-Length, a Node without the flag) stays on
    // `res.write`.
    const chunked = (this.res as unknown as { chunkedEncoding?: unknown }).chunkedEncoding === true;
    if (chunked && this.res.socket) this.socket = this.res.socket;
    compactSentHead(this.res);
  }

  cork(): void {
    if (this.socket) this.socket.cork();
    else this.res.cork();
  }

  uncork(): void {
    if (this.socket) this.socket.uncork();
    else this.res.uncork();
  }

  get bufferedBytes(): number {
    return this.socket ? this.socket.writableLength : this.res.writableLength;
  }

  end(): void {
    // Ended before its headers (shutdown or expiry while history was being read): an empty 200
    // without text/event-stream would make an EventSource give up for good, a reset makes it retry.
    if (!this.res.headersSent) return void this.res.destroy();
    this.res.end();
  }

  destroy(): void {
    this.res.destroy();
  }
}
