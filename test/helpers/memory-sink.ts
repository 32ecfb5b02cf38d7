import type { SubscriberSink } from '../../src/hub/subscriber.js';
import { EventStreamParser } from '../../src/protocol/parse.js';
import type { ParsedEvent } from '../../src/protocol/parse.js';

/**
 * A subscriber sink that keeps what the hub writes, for unit tests of the hub itself (the HTTP
 * tests use real sockets). `bufferedBytes` can be set to play a reader that stopped reading.
 */
export class MemorySink implements SubscriberSink {
  readonly chunks: Buffer[] = [];
  readonly events: ParsedEvent[] = [];
  bufferedBytes = 0;
  corks = 0;
  ended = false;
  destroyed = false;
  private readonly parser = new EventStreamParser({ onEvent: (event) => this.events.push(event) });

  write(chunk: Buffer): void {
    if (this.ended || this.destroyed) throw new Error('write after close');
    this.chunks.push(chunk);
    this.parser.push(chunk);
  }
  cork(): void {
    this.corks++;
  }
  uncork(): void {}
  end(): void {
    this.ended = true;
  }
  destroy(): void {
    this.destroyed = true;
  }
  get lastEventId(): string {
    return this.parser.lastEventId;
  }
}

export const nextTick = () => new Promise((resolve) => setImmediate(resolve));
