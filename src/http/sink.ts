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
    this.res.end();
  }

  destroy(): void {
    this.res.destroy();
  }
}
