/**
 * The leader's side of a shared stream: the one network connection of a share group. It subscribes
 * to the union of the group's selectors, resumes from the group's cursor, and turns what its
 * connection reports into messages for every tab (itself included). When the union changes it
 * connects again from the cursor, so each tab's events go on with no gap and no duplicate.
 */
import { ReconnectingClient } from './client.js';
import { selectorMatches, unionOfSelectors } from './share-topics.js';
import type { ShareMessage } from './share-protocol.js';
import type { ClientEvent, ClientOptions, ShareOptions, StateChange } from './types.js';

export interface LeaderContext {
  /** The hub URL without topics. */
  readonly hubUrl: string;
  /** The leading tab's options (its token, backoff, fetch…): the connection uses them. */
  readonly options: ClientOptions;
  readonly topicsOf: ShareOptions['topicsOf'];
  /** Every tab of the group and its selectors, the leader's own included. */
  readonly members: ReadonlyMap<string, readonly string[]>;
  /** The last id the group saw: where a (re)started connection resumes. */
  cursor(): string;
  /** Sends a message to every tab, this one included. */
  relay(message: ShareMessage): void;
}

export class ShareLeader {
  private connection: ReconnectingClient | undefined;
  private union: readonly string[] = [];
  private lastState: StateChange | undefined;
  private reconnects = 0;
  /** An id the stream moved to that no event has carried yet (see `trackCursor`). */
  private pendingCursor: string | undefined;
  private stopped = false;

  constructor(private readonly context: LeaderContext) {}

  start(): void {
    this.connect(this.context.cursor());
  }

  /** Tabs came or went: reconnect if the union of their selectors changed. */
  membersChanged(): void {
    if (this.stopped) return;
    const union = unionOfSelectors(this.context.members.values());
    if (sameList(union, this.union)) return;
    this.disconnect();
    this.connect(this.context.cursor());
  }

  /** A newcomer learns where the group is and the connection's state. */
  welcome(tab: string): void {
    this.context.relay({ kind: 'cursor', id: this.context.cursor(), to: tab });
    if (this.lastState) {
      this.context.relay({ kind: 'state', change: this.lastState, reconnects: this.reconnects, to: tab });
    }
  }

  reconnect(): void {
    this.connection?.reconnect();
  }

  stop(): void {
    this.stopped = true;
    this.disconnect();
  }

  private connect(after: string): void {
    this.union = unionOfSelectors(this.context.members.values());
    const connection = new ReconnectingClient(this.context.hubUrl, {
      ...this.context.options,
      topics: this.union,
      lastEventId: after,
      // The tabs persist what they delivered; the connection's URL is the union's, not a tab's.
      storage: undefined,
      share: undefined,
    });
    this.connection = connection;
    connection.onCursor((id) => this.trackCursor(id));
    connection.onAny((event) => this.relayEvent(event));
    connection.onReset((notice) => {
      this.pendingCursor = undefined;
      this.context.relay({ kind: 'reset', notice });
    });
    connection.onState((change) => {
      if (this.connection !== connection) return; // a connection replaced on purpose says nothing
      if (change.state === 'connecting' && change.attempt > 0) this.reconnects++;
      this.lastState = change;
      this.context.relay({ kind: 'state', change, reconnects: this.reconnects });
    });
  }

  private disconnect(): void {
    const connection = this.connection;
    this.connection = undefined;
    connection?.close();
  }

  /**
   * Ids usually move with an event (the parser reports the id, then the event, synchronously), and
   * the event's message carries it. An id that no event follows (a stream's opening `id:` block)
   * is sent on its own once the chunk is parsed: a new leader must resume from it even before the
   * first event, or what was published during the handover would be lost.
   */
  private trackCursor(id: string): void {
    this.pendingCursor = id;
    queueMicrotask(() => {
      if (this.pendingCursor === undefined || this.stopped) return;
      const moved = this.pendingCursor;
      this.pendingCursor = undefined;
      this.context.relay({ kind: 'cursor', id: moved });
    });
  }

  private relayEvent(event: ClientEvent): void {
    const ownId = this.pendingCursor === event.id;
    this.pendingCursor = undefined;
    const to = this.recipients(event);
    this.context.relay({
      kind: 'event',
      type: event.type,
      data: event.data,
      id: event.id,
      ...(ownId ? {} : { repeatsId: true }),
      ...(to ? { to } : {}),
    });
  }

  /** The tabs with a selector matching one of the event's topics; undefined: every tab. */
  private recipients(event: ClientEvent): string[] | undefined {
    const topicsOf = this.context.topicsOf;
    if (!topicsOf) return undefined;
    let topics: string | readonly string[] | undefined;
    try {
      topics = topicsOf(event);
    } catch {
      topics = undefined;
    }
    if (topics === undefined) return undefined;
    const list = typeof topics === 'string' ? [topics] : topics;
    const to: string[] = [];
    for (const [tab, selectors] of this.context.members) {
      if (selectors.some((selector) => list.some((topic) => selectorMatches(selector, topic)))) to.push(tab);
    }
    return to;
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((item, index) => item === b[index]);
}
