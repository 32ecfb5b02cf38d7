/**
 * A client whose stream is shared with this origin's other tabs (`share` option). The tabs of a
 * share group elect a leader with the Web Locks API: the tab holding the group's lock holds the one
 * network connection (a ShareLeader) and relays what it receives over the group's BroadcastChannel.
 * When the leader goes away, its lock passes to another tab, which resumes from the last id it saw.
 *
 * Every tab keeps its own copy of the group's cursor and the ids it saw recently, so a handover
 * (where the new leader may resume a little before what the old one relayed) delivers nothing twice.
 * A tab that cannot prove its rights equal its group's does not share at all (share-rights.ts).
 */
import { ReconnectingClient } from './client.js';
import { clientEvent, ListenableClient } from './listeners.js';
import { RecentIds } from './recent-ids.js';
import { ShareLeader } from './share-leader.js';
import { shareGroupName } from './share-protocol.js';
import type { ShareEnvironment, ShareGroupKey, ShareMessage } from './share-protocol.js';
import { rightsFingerprint } from './share-rights.js';
import { subscriptionUrl } from './url.js';
import type {
  ClientOptions,
  ClientState,
  EventMap,
  Reason,
  ShareOptions,
  SseClient,
  TokenProvider,
} from './types.js';

/** The reset reason a tab gets when it joins a group that is past the id it wanted to resume after. */
export const JOINED_SHARED_STREAM = 'joined-shared-stream';

/** This tab's place in one share group while it is in it. */
interface Membership {
  readonly key: ShareGroupKey;
  readonly channel: BroadcastChannel;
  /** Every tab of the group and its selectors, this one included. */
  readonly members: Map<string, readonly string[]>;
  readonly lockRequest: AbortController;
  releaseLock?: () => void;
  leader?: ShareLeader;
}

export class SharedClient extends ListenableClient implements SseClient<EventMap> {
  readonly url: string;
  readonly closed: Promise<Reason>;

  private readonly tab = randomTabId();
  private readonly topics: readonly string[];
  private readonly hubUrl: string;
  private readonly share: ShareOptions;
  private readonly storageKey: string;
  private readonly seen = new RecentIds();
  private readonly unwatchPage: () => void;

  private currentState: ClientState = 'connecting';
  private reconnectCount = 0;
  /** The last id this tab saw the group reach (delivered to it or to another tab). */
  private cursor: string;
  /** The id this tab wants to resume after, until the group tells it where it stands. */
  private wantedAfter: string;
  private welcomed = false;
  private key: ShareGroupKey | undefined;
  private membership: Membership | undefined;
  private solo: ReconnectingClient | undefined;
  private suspended = false;
  private closeReason: Reason | undefined;
  private resolveClosed!: (reason: Reason) => void;

  constructor(
    url: string | URL,
    private readonly options: ClientOptions,
    private readonly environment: ShareEnvironment,
  ) {
    super();
    this.topics = options.topics ?? [];
    this.url = subscriptionUrl(url, this.topics).href;
    this.hubUrl = subscriptionUrl(url).href;
    this.share = shareOptions(options.share);
    this.storageKey = options.storageKey ?? `ssehub:last-event-id:${this.url}`;
    this.cursor = this.wantedAfter = options.lastEventId ?? this.readStoredId() ?? '';
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    this.unwatchPage = watchPageLifecycle(this.suspend, this.resume);
    options.signal?.addEventListener('abort', this.handleAbort);
    queueMicrotask(() => void this.start());
  }

  get state(): ClientState {
    return this.currentState;
  }

  get lastEventId(): string {
    return this.solo ? this.solo.lastEventId : this.cursor;
  }

  get reconnects(): number {
    return this.solo ? this.solo.reconnects : this.reconnectCount;
  }

  /** Whether this tab holds its group's connection (false when unshared or following). */
  get leading(): boolean {
    return this.membership?.leader !== undefined;
  }

  reconnect(): void {
    if (this.closeReason) return;
    if (this.solo) return this.solo.reconnect();
    const membership = this.membership;
    if (membership?.leader) membership.leader.reconnect();
    else if (membership) membership.channel.postMessage({ kind: 'reconnect' } satisfies ShareMessage);
  }

  close(): void {
    this.finish({ code: 'closed', message: 'Closed by the application.' });
  }

  private async start(): Promise<void> {
    if (this.options.signal?.aborted) return this.handleAbort();
    let firstToken: string | undefined;
    let key: ShareGroupKey | undefined;
    try {
      firstToken = await this.fetchToken({ refresh: false });
      key = this.groupKey(firstToken);
    } catch {
      key = undefined; // the unshared client fetches the token again, with its backoff
    }
    if (this.closeReason) return;
    if (key === undefined) return this.goSolo(firstToken);
    this.key = key;
    this.join(key, firstToken);
  }

  /** The group this tab may share with, or undefined when its rights cannot be pinned down. */
  private groupKey(token: string | undefined): ShareGroupKey | undefined {
    const headers = this.options.headers;
    if (typeof headers === 'function') return undefined; // headers that may change per connection
    const rights = rightsFingerprint(token, headers);
    if (rights === undefined) return undefined;
    return {
      group: this.share.group ?? 'default',
      hub: this.hubUrl,
      credentials: this.options.credentials ?? 'same-origin',
      rights,
      topics: this.share.topicsOf ? null : [...new Set(this.topics)].sort(),
    };
  }

  private join(key: ShareGroupKey, firstToken: string | undefined): void {
    const membership: Membership = {
      key,
      channel: this.environment.openChannel(shareGroupName(key)),
      members: new Map([[this.tab, this.topics]]),
      lockRequest: new AbortController(),
    };
    this.membership = membership;
    membership.channel.onmessage = (message: MessageEvent<ShareMessage>) => {
      if (this.membership === membership) this.receive(membership, message.data);
    };
    membership.channel.postMessage({
      kind: 'join',
      tab: this.tab,
      topics: this.topics,
    } satisfies ShareMessage);
    this.environment.locks
      .request(shareGroupName(key), { signal: membership.lockRequest.signal }, () =>
        this.lead(membership, firstToken),
      )
      .catch(() => undefined); // aborted: the tab left before it was its turn
  }

  /**
   * Holds the group's lock (and so its connection) until this tab leaves the group. Web Locks are
   * granted in the order asked, and every tab hears the joins of the tabs that ask after it, so a new
   * leader already knows every tab and its topics; the roll call only catches a join still in flight.
   */
  private lead(membership: Membership, firstToken: string | undefined): Promise<void> {
    if (this.membership !== membership) return Promise.resolve();
    return new Promise<void>((release) => {
      membership.releaseLock = release;
      if (!this.welcomed) this.welcome(this.cursor);
      membership.leader = new ShareLeader({
        hubUrl: this.hubUrl,
        options: { ...this.options, token: this.leaderToken(membership, firstToken), signal: undefined },
        topicsOf: this.share.topicsOf,
        members: membership.members,
        cursor: () => this.cursor,
        relay: (message) => this.relay(membership, message),
      });
      membership.channel.postMessage({ kind: 'roll-call' } satisfies ShareMessage);
      membership.leader.start();
    });
  }

  /**
   * The leader's token source: the tab's own, checked on every refresh. A token whose rights differ
   * from the group's must not feed the group's connection: the tab leaves for the group of its new
   * rights (the next leader resumes the old group).
   */
  private leaderToken(membership: Membership, firstToken: string | undefined): string | TokenProvider {
    const source = this.options.token;
    if (typeof source !== 'function') return firstToken ?? '';
    let unused = firstToken;
    return async (context) => {
      const token = !context.refresh && unused !== undefined ? unused : await source(context);
      unused = undefined;
      const key = this.groupKey(token);
      if (key === undefined || key.rights !== membership.key.rights) {
        queueMicrotask(() => this.moveGroup(key, token));
        throw new Error('The token’s rights changed; this tab moves to the streams of its new rights.');
      }
      return token ?? '';
    };
  }

  private moveGroup(key: ShareGroupKey | undefined, token: string | undefined): void {
    if (this.closeReason || !this.membership) return;
    this.leave();
    this.wantedAfter = this.cursor;
    this.welcomed = false;
    this.key = key;
    if (key === undefined) this.goSolo(token);
    else this.join(key, token);
  }

  /** Sends a message to the other tabs, and handles it here as they do. */
  private relay(membership: Membership, message: ShareMessage): void {
    if (this.membership !== membership) return;
    if (message.kind === 'event' && !message.repeatsId && this.seen.has(message.id)) return;
    membership.channel.postMessage(message);
    this.receive(membership, message);
  }

  private receive(membership: Membership, message: ShareMessage): void {
    switch (message.kind) {
      case 'join': {
        // A tab the leader knows (answering a new leader's roll call) has its place already.
        const known = membership.members.has(message.tab);
        membership.members.set(message.tab, message.topics);
        if (!known) membership.leader?.welcome(message.tab);
        membership.leader?.membersChanged();
        return;
      }
      case 'leave':
        membership.members.delete(message.tab);
        membership.leader?.membersChanged();
        return;
      case 'roll-call':
        membership.channel.postMessage({
          kind: 'join',
          tab: this.tab,
          topics: this.topics,
        } satisfies ShareMessage);
        return;
      case 'reconnect':
        membership.leader?.reconnect();
        return;
      case 'event':
        return this.receiveEvent(message);
      case 'cursor':
        if (message.to === undefined) this.moveCursor(message.id);
        else if (message.to === this.tab && !this.welcomed) this.welcome(message.id);
        return;
      case 'state':
        if (message.to === undefined || message.to === this.tab) this.applyState(message);
        return;
      case 'reset':
        this.moveCursor(message.notice.resumeFrom);
        if (this.welcomed) this.listeners.emitReset(message.notice);
        return;
    }
  }

  private receiveEvent(message: Extract<ShareMessage, { kind: 'event' }>): void {
    if (!message.repeatsId) {
      if (this.seen.has(message.id)) return; // relayed by the old leader and again by the new one
      this.seen.add(message.id);
      this.moveCursor(message.id);
    }
    // Before its welcome a tab has not been counted in `to`: it starts at the welcome's cursor.
    if (!this.welcomed) return;
    if (message.to !== undefined && !message.to.includes(this.tab)) return;
    this.listeners.emitEvent(clientEvent(message.type, message.data, message.id));
  }

  /**
   * The group tells this tab where it stands. When that is not where the tab wanted to resume, the
   * events in between are not coming: the tab is told, as the hub tells a client it cannot resume.
   */
  private welcome(groupCursor: string): void {
    this.welcomed = true;
    this.moveCursor(groupCursor);
    if (this.wantedAfter !== '' && this.wantedAfter !== groupCursor) {
      this.listeners.emitReset({
        reason: JOINED_SHARED_STREAM,
        lastEventId: this.wantedAfter,
        resumeFrom: groupCursor,
      });
    }
  }

  private applyState(message: Extract<ShareMessage, { kind: 'state' }>): void {
    this.reconnectCount = message.reconnects;
    if (message.change.state === 'closed') return this.finish(message.change.reason);
    this.currentState = message.change.state;
    this.listeners.emitState(message.change);
  }

  private moveCursor(id: string): void {
    if (id === this.cursor) return;
    this.cursor = id;
    try {
      this.options.storage?.setItem(this.storageKey, id);
    } catch {
      // Quota or privacy errors must not break the stream.
    }
  }

  private goSolo(firstToken: string | undefined): void {
    const source = this.options.token;
    let unused = firstToken;
    const token: ClientOptions['token'] =
      typeof source === 'function'
        ? (context) => {
            const cached = !context.refresh ? unused : undefined;
            unused = undefined;
            return cached ?? source(context);
          }
        : source;
    const solo = new ReconnectingClient(this.url, {
      ...this.options,
      token,
      lastEventId: this.cursor,
      share: undefined,
      signal: undefined,
    });
    this.solo = solo;
    solo.onAny((event) => this.listeners.emitEvent(event));
    solo.onReset((notice) => this.listeners.emitReset(notice));
    solo.onState((change) => {
      if (this.solo !== solo) return;
      if (change.state === 'closed') return this.finish(change.reason);
      this.currentState = change.state;
      this.listeners.emitState(change);
    });
  }

  private async fetchToken(context: { refresh: boolean }): Promise<string | undefined> {
    const source = this.options.token;
    return typeof source === 'function' ? await source(context) : source;
  }

  /** Leaves the group: the connection (if this tab led) passes to another tab of the group. */
  private leave(): void {
    const membership = this.membership;
    if (!membership) return;
    this.membership = undefined;
    membership.leader?.stop();
    membership.channel.postMessage({ kind: 'leave', tab: this.tab } satisfies ShareMessage);
    membership.releaseLock?.();
    membership.lockRequest.abort();
    membership.channel.close();
  }

  /** A hidden (back/forward cache) or frozen page must not hold the group's connection. */
  private readonly suspend = (): void => {
    if (!this.membership || this.closeReason) return;
    this.leave();
    this.suspended = true;
  };

  private readonly resume = (): void => {
    if (!this.suspended || this.closeReason || !this.key) return;
    this.suspended = false;
    this.wantedAfter = this.cursor;
    this.welcomed = false;
    this.join(this.key, undefined);
  };

  private readonly handleAbort = (): void => {
    this.finish({ code: 'aborted', message: 'Closed: the abort signal fired.' });
  };

  private finish(reason: Reason): void {
    if (this.closeReason) return;
    this.closeReason = reason;
    this.leave();
    const solo = this.solo;
    this.solo = undefined;
    solo?.close();
    this.unwatchPage();
    this.options.signal?.removeEventListener('abort', this.handleAbort);
    this.currentState = 'closed';
    this.listeners.emitState({ state: 'closed', reason });
    this.resolveClosed(reason);
  }

  private readStoredId(): string | undefined {
    try {
      return this.options.storage?.getItem(this.storageKey) ?? undefined;
    } catch {
      return undefined;
    }
  }
}

function shareOptions(share: ClientOptions['share']): ShareOptions {
  if (typeof share === 'string') return { group: share };
  if (typeof share === 'object' && share !== null) return share;
  return {};
}

function randomTabId(): string {
  const crypto = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  return crypto?.randomUUID?.() ?? `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

interface EventTargetLike {
  addEventListener(type: string, listener: () => void): void;
  removeEventListener(type: string, listener: () => void): void;
}

/**
 * Calls `hide` when the page goes into the back/forward cache (`pagehide`, on window) or is frozen
 * (`freeze`, on document), and `show` when it comes back (`pageshow`, `resume`). A no-op outside a
 * page.
 */
function watchPageLifecycle(hide: () => void, show: () => void): () => void {
  const scope = globalThis as { document?: Partial<EventTargetLike> } & Partial<EventTargetLike>;
  const bindings: [Partial<EventTargetLike> | undefined, string, () => void][] = [
    [scope, 'pagehide', hide],
    [scope, 'pageshow', show],
    [scope.document, 'freeze', hide],
    [scope.document, 'resume', show],
  ];
  const bound = bindings.filter(
    (binding): binding is [EventTargetLike, string, () => void] =>
      typeof binding[0]?.addEventListener === 'function' &&
      typeof binding[0].removeEventListener === 'function',
  );
  for (const [target, type, listener] of bound) target.addEventListener(type, listener);
  return () => {
    for (const [target, type, listener] of bound) target.removeEventListener(type, listener);
  };
}
