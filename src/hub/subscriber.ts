import type { StoredEvent } from '../store/types.js';
import { isControlEvent } from './control.js';
import type { TopicSelector } from './topic-selector.js';
import { anyTopicMatches } from './topic-selector.js';

/**
 * Where a subscriber's bytes go. The HTTP layer wraps a response; tests may wrap anything. The hub
 * only writes shared frames and reads how much is still buffered, to bound slow readers.
 */
export interface SubscriberSink {
  write(chunk: Buffer): void;
  /** Group the writes of one flush into one syscall where the transport supports it. */
  cork?(): void;
  uncork?(): void;
  /** Bytes accepted by `write` but not yet handed to the kernel. */
  readonly bufferedBytes: number;
  /** Close the stream normally (the client will reconnect and resume). */
  end(): void;
  /** Drop the connection at once, discarding what is buffered. */
  destroy(): void;
}

export type CloseReason = 'client' | 'slow' | 'expired' | 'shutdown' | 'kicked' | 'gap';

/** One subscriber's queue: frames waiting for the next flush, and live events held during replay. */
export class Subscriber {
  /** Frames queued since the last flush. */
  pending: Buffer[] = [];
  pendingBytes = 0;
  /** While history is being read, matching live events wait here to be de-duplicated. */
  heldDuringReplay: StoredEvent[] | undefined = [];
  /**
   * Cursor of the newest replayed event while the live feed has not caught up with it yet (a
   * remote store's feed can lag its history): live events up to it were already sent.
   */
  replayedThrough: string | undefined;
  /** Marks the publish being fanned out, so an event matching several selectors is queued once. */
  fanoutStamp = 0;
  queuedForFlush = false;
  lastWriteAt: number;
  closed = false;

  constructor(
    readonly id: number,
    readonly sink: SubscriberSink,
    readonly selectors: readonly TopicSelector[],
    /** Selectors this subscriber may read private updates from; undefined: public updates only. */
    readonly privateSelectors: readonly TopicSelector[] | undefined,
    /** Milliseconds since the epoch when the subscriber's authorization ends. */
    readonly expiresAt: number | undefined,
    /** Who the subscriber is (token `sub`), for cutting off a subject. */
    readonly subject: string | undefined,
    /** Id of the newest event fanned out when this subscriber attached to the live feed. */
    readonly attachedAfter: string,
    now: number,
  ) {
    this.lastWriteAt = now;
  }

  /** Whether this subscriber may receive the event (its topic selectors and private rights). */
  wants(event: StoredEvent): boolean {
    if (!anyTopicMatches(this.selectors, event.topics)) return false;
    return this.mayRead(event);
  }

  /** Private updates need a private-rights selector matching one of the update's topics. */
  mayRead(event: StoredEvent): boolean {
    if (!event.private) return true;
    if (isControlEvent(event)) return false;
    return this.privateSelectors !== undefined && anyTopicMatches(this.privateSelectors, event.topics);
  }
}
