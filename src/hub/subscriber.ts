import type { Store, StoredEvent } from '../store/types.js';
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
  /**
   * Calls back once the transport has taken what is buffered (Node's `drain`), so a replay can
   * read its next page. Without it the hub checks `bufferedBytes` again after a short wait.
   */
  onceDrained?(callback: () => void): void;
  /** Close the stream normally (the client will reconnect and resume). */
  end(): void;
  /** Drop the connection at once, discarding what is buffered. */
  destroy(): void;
}

/**
 * Why a stream ended: the client left, read too slowly, its token expired, the hub shut down, its
 * subject was cut off, the live feed skipped events, or the store failed during a replay.
 */
export const CLOSE_REASONS = ['client', 'slow', 'expired', 'shutdown', 'kicked', 'gap', 'store'] as const;
export type CloseReason = (typeof CLOSE_REASONS)[number];

/** What observers (metrics, logs) may know of a subscriber: a read-only view. */
export interface SubscriberView {
  readonly id: number;
  readonly subject: string | undefined;
  readonly topicCount: number;
  /** The label given at subscribe (the standalone hub gives the request id), for logs. */
  readonly tag: string | undefined;
  /** When the stream was opened (milliseconds since the epoch, by the hub's clock). */
  readonly openedAt: number;
}

export interface SubscriberGrant {
  readonly selectors: readonly TopicSelector[];
  /** Selectors this subscriber may read private updates from; undefined: public updates only. */
  readonly privateSelectors: readonly TopicSelector[] | undefined;
  /** Milliseconds since the epoch when the subscriber's authorization ends. */
  readonly expiresAt: number | undefined;
  /** Who the subscriber is (token `sub`), for cutting off a subject. */
  readonly subject: string | undefined;
  /** Its Mercure subscriber id and payload, when the hub tracks active subscriptions. */
  readonly presence?: { readonly subscriber: string; readonly payload?: unknown } | undefined;
  /** A label for logs, e.g. the request id. */
  readonly tag?: string | undefined;
}

type Phase = 'replaying' | 'live' | 'closed';

export interface ShedEvents {
  skipped: { lastEventId: string; first: StoredEvent; last: StoredEvent; count: number } | undefined;
  /** Canonical topic → newest shed update, oldest first. */
  latest: Map<string, StoredEvent>;
}

/**
 * One subscriber: what it may see, and its queue of frames. While history is replayed, live events
 * are not queued at all (the replay reads them from the store in order); once the replay has reached
 * the live feed, the subscriber switches to live delivery in the same synchronous step.
 */
export class Subscriber implements SubscriberView {
  private phase: Phase = 'replaying';
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /**
   * Cursor of the newest replayed event while the live feed has not delivered it yet (a remote
   * store's feed can lag its history): live events up to it were already sent.
   */
  private replayedThrough: string | undefined;
  private drainWaiter: (() => void) | undefined;
  /** Marks the publish being fanned out, so an event matching several selectors is queued once. */
  fanoutStamp = 0;
  /** The id of the last event (or reset signal) queued: where a gap signal says the gap starts. */
  lastSentId = '';
  /**
   * While a slow reader of `skip`/`latest` topics catches up: the range of skipped events and the
   * newest shed update per topic, sent once its backlog has room (see Hub.enqueueOrShed).
   */
  shed: ShedEvents | undefined;
  private lastWriteAt: number;

  constructor(
    readonly id: number,
    readonly sink: SubscriberSink,
    private readonly grant: SubscriberGrant,
    readonly openedAt: number,
  ) {
    this.lastWriteAt = openedAt;
  }

  get selectors(): readonly TopicSelector[] {
    return this.grant.selectors;
  }
  get subject(): string | undefined {
    return this.grant.subject;
  }
  get presence(): SubscriberGrant['presence'] {
    return this.grant.presence;
  }
  get expiresAt(): number | undefined {
    return this.grant.expiresAt;
  }
  get tag(): string | undefined {
    return this.grant.tag;
  }
  get topicCount(): number {
    return this.grant.selectors.length;
  }
  get closed(): boolean {
    return this.phase === 'closed';
  }
  get live(): boolean {
    return this.phase === 'live';
  }
  /** Bytes queued here or buffered by the transport: what a slow reader holds. */
  get backlogBytes(): number {
    return this.pendingBytes + this.sink.bufferedBytes;
  }
  get hasPending(): boolean {
    return this.pending.length > 0;
  }

  /** Whether this subscriber may receive the event (its topic selectors and private rights). */
  wants(event: StoredEvent): boolean {
    if (!anyTopicMatches(this.grant.selectors, event.topics)) return false;
    return this.mayRead(event);
  }

  /** Private updates need a private-rights selector matching one of the update's topics. */
  mayRead(event: StoredEvent): boolean {
    if (!event.private) return true;
    if (isControlEvent(event)) return false;
    const rights = this.grant.privateSelectors;
    return rights !== undefined && anyTopicMatches(rights, event.topics);
  }

  /**
   * Switches to live delivery. `replayedThrough` is the cursor the replay read through when it is
   * ahead of what the live feed has delivered.
   */
  goLive(replayedThrough: string | undefined): void {
    if (this.phase !== 'replaying') return;
    this.phase = 'live';
    this.replayedThrough = replayedThrough;
  }

  /**
   * Whether a live event (already known to match a selector) is to be queued: not while replaying,
   * not what the replay already sent, not a private update without rights.
   */
  acceptsLive(event: StoredEvent, order: Pick<Store, 'compareCursors'>): boolean {
    if (this.phase !== 'live' || !this.mayRead(event)) return false;
    if (this.replayedThrough !== undefined) {
      if (order.compareCursors(event.cursor, this.replayedThrough) <= 0) return false;
      this.replayedThrough = undefined;
    }
    return true;
  }

  /** Queues a frame; returns true when the subscriber was idle and now needs a flush. */
  enqueue(frame: Buffer): boolean {
    if (this.phase === 'closed') return false;
    this.pending.push(frame);
    this.pendingBytes += frame.length;
    return this.pending.length === 1;
  }

  /**
   * Writes what is queued to the sink in one corked batch. Returns false, writing nothing, when the
   * backlog would pass `maxBufferedBytes`: the reader is too slow to keep.
   */
  flush(maxBufferedBytes: number, now: number): boolean {
    if (this.phase === 'closed' || this.pending.length === 0) return true;
    const { sink, pending } = this;
    if (sink.bufferedBytes + this.pendingBytes > maxBufferedBytes) return false;
    this.pending = [];
    this.pendingBytes = 0;
    this.lastWriteAt = now;
    if (pending.length === 1) {
      sink.write(pending[0] as Buffer);
    } else {
      sink.cork?.();
      for (const chunk of pending) sink.write(chunk);
      sink.uncork?.();
    }
    return true;
  }

  /** Whether a heartbeat is due: live, nothing queued and nothing written since `idleSince`. */
  idleSince(idleSince: number): boolean {
    return this.phase === 'live' && this.pending.length === 0 && this.lastWriteAt <= idleSince;
  }

  /** Resolves once the transport has taken what was buffered, or the subscriber closed. */
  drained(): Promise<void> {
    return new Promise((resolve) => {
      if (this.phase === 'closed') return resolve();
      this.drainWaiter = resolve;
      const wake = (): void => {
        if (this.drainWaiter === resolve) this.drainWaiter = undefined;
        resolve();
      };
      if (this.sink.onceDrained) this.sink.onceDrained(wake);
      else setTimeout(wake, 5);
    });
  }

  /** Marks the subscriber closed and hands back what was still queued (to send before an end). */
  close(): Buffer[] {
    if (this.phase === 'closed') return [];
    this.phase = 'closed';
    const pending = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    this.drainWaiter?.();
    this.drainWaiter = undefined;
    return pending;
  }
}
