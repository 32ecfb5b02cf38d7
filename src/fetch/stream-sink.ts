import type { SubscriberSink } from '../hub/subscriber.js';

/** Bytes the stream holds before it reports itself full (its queue is not bounded by this). */
export const DEFAULT_STREAM_HIGH_WATER_MARK = 64 * 1024;

/**
 * A subscriber's sink as the body of a Fetch `Response`: a `ReadableStream` of the hub's shared
 * frames. The server that sends the response pulls from it as fast as its connection takes bytes,
 * so the stream's queue is what the client has not taken yet: `bufferedBytes` reports it, which is
 * how the hub's slow-consumer bound and paged replay see a slow reader, as with a socket. Cancelling
 * the stream (the client left) or aborting the request closes the subscriber, as a closed socket does.
 * Cancel is the route servers take (the Node bridges, Bun, Deno); the signal is a second one, not to
 * be relied on alone: a `Request` built on Node follows a given signal through a weak reference.
 */
export class StreamSink implements SubscriberSink {
  readonly stream: ReadableStream<Uint8Array>;
  private controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  private drainWaiter: (() => void) | undefined;
  private done = false;

  constructor(
    private readonly onClose: () => void,
    private readonly highWaterMark: number = DEFAULT_STREAM_HIGH_WATER_MARK,
    private readonly signal?: AbortSignal,
  ) {
    // A default stream, not a byte stream: enqueueing into a byte stream transfers the buffer,
    // and the frames are shared by every subscriber.
    this.stream = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.controller = controller;
        },
        pull: () => this.pulled(),
        cancel: () => this.finish(),
      },
      { highWaterMark, size: (chunk) => chunk.byteLength },
    );
    signal?.addEventListener('abort', this.aborted);
  }

  /** The client left: nobody reads what is queued, and there is no connection left to abort. */
  private readonly aborted = (): void => {
    if (this.done) return;
    this.controller?.close();
    this.finish();
  };

  write(chunk: Buffer): void {
    if (!this.done) this.controller?.enqueue(chunk);
  }

  get bufferedBytes(): number {
    const free = this.done ? null : this.controller?.desiredSize;
    return typeof free === 'number' ? this.highWaterMark - free : 0;
  }

  onceDrained(callback: () => void): void {
    // The stream asks for more (`pull`) once its queue is below the mark; below it already, look
    // again shortly, as the socket sink does.
    if (this.done || this.bufferedBytes < this.highWaterMark) {
      setTimeout(callback, 5);
      return;
    }
    const previous = this.drainWaiter;
    this.drainWaiter = previous === undefined ? callback : () => (previous(), callback());
  }

  private pulled(): void {
    const waiter = this.drainWaiter;
    this.drainWaiter = undefined;
    waiter?.();
  }

  end(): void {
    if (this.done) return;
    // What is queued is still delivered: the stream closes after it.
    this.controller?.close();
    this.finish();
  }

  destroy(): void {
    if (this.done) return;
    // Queued frames are dropped and the response is aborted, as a destroyed socket would be.
    this.controller?.error(new Error('ssehub: stream cut by the hub (a slow reader dropped at its bound)'));
    this.finish();
  }

  /** Whether the stream is over (ended, destroyed or cancelled by its reader). */
  get closed(): boolean {
    return this.done;
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.signal?.removeEventListener('abort', this.aborted);
    this.pulled();
    this.onClose();
  }
}
