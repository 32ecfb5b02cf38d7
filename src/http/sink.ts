import type { ServerResponse } from 'node:http';
import type { SubscriberSink } from '../hub/subscriber.js';

/** Adapts a streaming HTTP response to the hub's subscriber sink. */
export class ResponseSink implements SubscriberSink {
  constructor(private readonly res: ServerResponse) {}

  write(chunk: Buffer): void {
    this.res.write(chunk);
  }

  cork(): void {
    this.res.cork();
  }

  uncork(): void {
    this.res.uncork();
  }

  get bufferedBytes(): number {
    return this.res.writableLength;
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
