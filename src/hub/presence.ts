import { createHash, randomUUID } from 'node:crypto';
import type { EventInput, StoredEvent } from '../store/types.js';
import { CONTROL_TOPIC, isControlEvent } from './control.js';
import type { PresenceLeases } from './presence-leases.js';
import { LocalPresenceLeases } from './presence-leases.js';
import {
  SUBSCRIPTION_FORMATS,
  shapesOf,
  subscriptionEvent,
  subscriptionTopic,
} from './subscription-format.js';
import type { ActiveSubscription, SubscriptionShape, SubscriptionsFormat } from './subscription-format.js';
import type { MatchType, TopicSelector } from './topic-selector.js';

/**
 * Mercure active subscriptions and presence, on one hub or on many sharing a store.
 *
 * Every hub announces its own subscriptions as commands on the control topic; each hub folds the
 * commands of all hubs, in the store's one total order, into the same table of who holds which
 * subscription. A subscription is active while at least one hub holds it, so a client that moves
 * from one hub to another (a reconnect after a deploy) never looks inactive. The hub whose command
 * caused a change publishes the Mercure subscription event (a private update) for it, exactly once.
 *
 * A client that reconnects to the same hub within the grace period is not announced as gone at all.
 * A hub that dies stops renewing its lease; once it lapses, another hub announces the reap, and the
 * dead hub's subscriptions end.
 */

export const DEFAULT_PRESENCE_LEASE_MS = 30_000;
export const DEFAULT_PRESENCE_GRACE_MS = 5_000;

/** Where a change of presence was caused: `local` on the one hub whose command caused it. */
export interface PresenceChange {
  readonly local: boolean;
}

export type PresenceEvent =
  | { type: 'active' | 'inactive'; subscription: ActiveSubscription }
  /** The first subscription to a selector became active, or the last one inactive. */
  | { type: 'occupied' | 'vacant'; topic: string };

export interface PresenceOptions {
  /** How long a killed hub's subscriptions outlive it (ms). Default 30 s. */
  leaseMs?: number;
  /** How long a subscription stays active after its stream closes, awaiting a reconnect (ms). Default 5 s. */
  graceMs?: number;
  /** Where hubs sharing the store keep their leases; default: in this process only. */
  leases?: PresenceLeases;
  /** This hub's id among those sharing the store; default: random. */
  hubId?: string;
  /** The shape of the subscription events this hub publishes (docs/protocol.md); default draft-07. */
  format?: SubscriptionsFormat;
}

/** Presence at a glance, for metrics: sizes now and counts since the hub started. */
export interface PresenceStats {
  /** Active subscriptions, on every hub sharing the store. */
  activeSubscriptions: number;
  /** Selectors with at least one active subscription (occupied). */
  occupiedSelectors: number;
  /** Presence commands (of every hub) folded into the table. */
  commandsApplied: number;
  /** Hubs whose lapsed lease this hub announced as reaped. */
  leasesReaped: number;
  /** Streams that reopened a subscription within its grace period: flaps that never happened. */
  graceReconnects: number;
}

/** What the presence layer needs of one of the hub's subscribers. */
export interface PresentSubscriber {
  readonly selectors: readonly TopicSelector[];
  readonly presence: { readonly subscriber: string; readonly payload?: unknown } | undefined;
}

type PresenceCommand =
  | { action: 'presence-add' | 'presence-remove'; hub: string; entry: ActiveSubscription }
  | { action: 'presence-reap'; hub: string; by: string }
  | { action: 'presence-sync'; hub: string }
  | { action: 'presence-state'; hub: string; entries: ActiveSubscription[] };

interface LocalHolding {
  entry: ActiveSubscription;
  streams: number;
  graceTimer: NodeJS.Timeout | undefined;
}

/**
 * The subscriber id of a stream (see docs/protocol.md, "Subscriber ids"): a client that presents
 * the same identity gets the same id on every reconnect, to any hub. The identity is the token's
 * subject and the client's own `client_key`; the id is a hash of both, so no client can take
 * another subject's id. With neither, each stream is a subscriber of its own.
 */
export function subscriberIdOf(subject: string | undefined, clientKey: string | undefined): string {
  if (subject === undefined && clientKey === undefined) return `urn:uuid:${randomUUID()}`;
  const digest = createHash('sha256')
    .update(`${subject ?? ''}\0${clientKey ?? ''}`)
    .digest('base64url')
    .slice(0, 27);
  return `urn:ssehub:subscriber:${digest}`;
}

export class Presence {
  readonly hubId: string;
  private readonly leaseMs: number;
  private readonly graceMs: number;
  private readonly leases: PresenceLeases;
  readonly format: SubscriptionsFormat;
  private readonly shapes: SubscriptionShape[];
  /** This hub's subscriptions, by key, with how many of its streams hold each. */
  private readonly local = new Map<string, LocalHolding>();
  /** Every hub's subscriptions: key → the entry and the hubs holding it. */
  private readonly holders = new Map<string, { entry: ActiveSubscription; hubs: Set<string> }>();
  private readonly byHub = new Map<string, Set<string>>();
  /** Selector → active subscriptions to it, for occupancy. */
  private readonly occupancy = new Map<string, number>();
  private readonly listeners = new Set<(event: PresenceEvent, change: PresenceChange) => void>();
  private readonly timer: NodeJS.Timeout;
  private stopped = false;
  private readonly counts = { commandsApplied: 0, leasesReaped: 0, graceReconnects: 0 };

  constructor(
    options: PresenceOptions,
    private readonly append: (input: EventInput) => Promise<unknown>,
    private readonly onError: (error: unknown) => void,
  ) {
    this.hubId = options.hubId ?? randomUUID();
    this.leaseMs = options.leaseMs ?? DEFAULT_PRESENCE_LEASE_MS;
    this.graceMs = options.graceMs ?? DEFAULT_PRESENCE_GRACE_MS;
    this.leases = options.leases ?? new LocalPresenceLeases();
    this.format = options.format ?? 'draft-07';
    if (!SUBSCRIPTION_FORMATS.includes(this.format)) {
      throw new RangeError(`presence.format must be one of ${SUBSCRIPTION_FORMATS.join(', ')}`);
    }
    this.shapes = shapesOf(this.format);
    this.timer = setInterval(() => void this.tick(), Math.max(10, Math.floor(this.leaseMs / 3)));
    this.timer.unref();
  }

  /** Takes the lease and asks the hubs already running for their subscriptions. */
  async start(): Promise<void> {
    await this.leases.renew(this.hubId, this.leaseMs);
    await this.send({ action: 'presence-sync', hub: this.hubId });
  }

  /** Active subscriptions whose selector matches `topic` (all of them when undefined). */
  list(filter?: (entry: ActiveSubscription) => boolean): ActiveSubscription[] {
    const entries: ActiveSubscription[] = [];
    for (const { entry } of this.holders.values()) if (!filter || filter(entry)) entries.push(entry);
    return entries;
  }

  stats(): PresenceStats {
    return { activeSubscriptions: this.holders.size, occupiedSelectors: this.occupancy.size, ...this.counts };
  }

  onEvent(listener: (event: PresenceEvent, change: PresenceChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  opened(subscriber: PresentSubscriber): void {
    if (!subscriber.presence || this.stopped) return;
    for (const entry of entriesOf(subscriber)) {
      const key = keyOf(entry);
      const holding = this.local.get(key);
      if (holding) {
        holding.streams++;
        // A reconnect within the grace period: the subscription never looked inactive.
        if (holding.graceTimer) this.counts.graceReconnects++;
        clearTimeout(holding.graceTimer);
        holding.graceTimer = undefined;
        continue;
      }
      this.local.set(key, { entry, streams: 1, graceTimer: undefined });
      void this.send({ action: 'presence-add', hub: this.hubId, entry });
    }
  }

  released(subscriber: PresentSubscriber): void {
    if (!subscriber.presence || this.stopped) return;
    for (const entry of entriesOf(subscriber)) {
      const key = keyOf(entry);
      const holding = this.local.get(key);
      if (!holding || --holding.streams > 0) continue;
      holding.graceTimer = setTimeout(() => {
        if (holding.streams > 0 || this.local.get(key) !== holding) return;
        this.local.delete(key);
        void this.send({ action: 'presence-remove', hub: this.hubId, entry });
      }, this.graceMs);
      holding.graceTimer.unref();
    }
  }

  /** Applies a presence command from the store's feed; ignores any other event. */
  apply(event: StoredEvent): void {
    const command = presenceCommandOf(event);
    if (!command) return;
    this.counts.commandsApplied++;
    switch (command.action) {
      case 'presence-add':
        return this.hold(command.hub, command.entry, command.hub);
      case 'presence-remove':
        return this.drop(command.hub, keyOf(command.entry), command.hub);
      case 'presence-reap':
        for (const key of [...(this.byHub.get(command.hub) ?? [])]) this.drop(command.hub, key, command.by);
        // Reaped while alive (a stalled network): this hub announces what it still holds.
        if (command.hub === this.hubId && !this.stopped) void this.announceState();
        return;
      case 'presence-sync':
        if (command.hub !== this.hubId && !this.stopped) void this.announceState();
        return;
      case 'presence-state': {
        const kept = new Set(command.entries.map(keyOf));
        for (const key of [...(this.byHub.get(command.hub) ?? [])]) {
          if (!kept.has(key)) this.drop(command.hub, key, command.hub);
        }
        for (const entry of command.entries) this.hold(command.hub, entry, command.hub);
      }
    }
  }

  async close(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    for (const holding of this.local.values()) clearTimeout(holding.graceTimer);
    // Hubs still running reap this one's subscriptions on their next tick, not a lease later.
    await this.leases.release(this.hubId).catch(this.onError);
    await this.leases.close?.().catch(this.onError);
  }

  private hold(hub: string, entry: ActiveSubscription, origin: string): void {
    const key = keyOf(entry);
    let holding = this.holders.get(key);
    let hubs = this.byHub.get(hub);
    if (!hubs) this.byHub.set(hub, (hubs = new Set()));
    hubs.add(key);
    if (holding) {
      holding.hubs.add(hub);
      return;
    }
    holding = { entry, hubs: new Set([hub]) };
    this.holders.set(key, holding);
    this.changed(entry, true, origin);
  }

  private drop(hub: string, key: string, origin: string): void {
    this.byHub.get(hub)?.delete(key);
    const holding = this.holders.get(key);
    if (!holding || !holding.hubs.delete(hub) || holding.hubs.size > 0) return;
    this.holders.delete(key);
    this.changed(holding.entry, false, origin);
  }

  /** One change of the shared table: told to listeners here, published by the hub that caused it. */
  private changed(entry: ActiveSubscription, active: boolean, origin: string): void {
    if (origin === this.hubId) {
      for (const shape of this.shapes)
        this.append(subscriptionEvent(shape, entry, active)).catch(this.onError);
    }
    const change = { local: origin === this.hubId };
    this.emit({ type: active ? 'active' : 'inactive', subscription: entry }, change);
    const count = (this.occupancy.get(entry.topic) ?? 0) + (active ? 1 : -1);
    if (count > 0) this.occupancy.set(entry.topic, count);
    else this.occupancy.delete(entry.topic);
    if (active && count === 1) this.emit({ type: 'occupied', topic: entry.topic }, change);
    if (!active && count === 0) this.emit({ type: 'vacant', topic: entry.topic }, change);
  }

  private emit(event: PresenceEvent, change: PresenceChange): void {
    for (const listener of this.listeners) {
      try {
        listener(event, change);
      } catch (error) {
        this.onError(error);
      }
    }
  }

  /** Renews this hub's lease, and reaps the hubs whose leases lapsed. */
  private async tick(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.leases.renew(this.hubId, this.leaseMs);
      const others = [...this.byHub.keys()].filter((hub) => hub !== this.hubId);
      const alive = await this.leases.alive(others);
      for (const hub of others) {
        if (!alive.has(hub) && (this.byHub.get(hub)?.size ?? 0) > 0) {
          this.counts.leasesReaped++;
          await this.send({ action: 'presence-reap', hub, by: this.hubId });
        }
      }
    } catch (error) {
      this.onError(error);
    }
  }

  private announceState(): Promise<void> {
    const entries = [...this.local.values()].map((holding) => holding.entry);
    return this.send({ action: 'presence-state', hub: this.hubId, entries });
  }

  private async send(command: PresenceCommand): Promise<void> {
    try {
      await this.append({ topics: [CONTROL_TOPIC], data: JSON.stringify(command), private: true });
    } catch (error) {
      this.onError(error);
    }
  }
}

function entriesOf(subscriber: PresentSubscriber): ActiveSubscription[] {
  const identity = subscriber.presence;
  if (!identity) return [];
  return subscriber.selectors.map((selector) => ({
    id: subscriptionTopic(selector.source, identity.subscriber),
    topic: selector.source,
    matchType: matchTypeOf(selector),
    subscriber: identity.subscriber,
    ...(identity.payload === undefined ? {} : { payload: identity.payload }),
  }));
}

function matchTypeOf(selector: TopicSelector): MatchType {
  if (selector.declared) return selector.declared;
  if (selector.kind === 'urlpattern') return 'urlpattern';
  // An exact-kind selector may be a draft-07 topic that is simply not a template: both read alike.
  return selector.kind === 'exact' && selector.source.includes('{') ? 'exact' : 'template';
}

function keyOf(entry: ActiveSubscription): string {
  return `${entry.matchType}\0${entry.id}`;
}

const PRESENCE_ACTIONS = new Set([
  'presence-add',
  'presence-remove',
  'presence-reap',
  'presence-sync',
  'presence-state',
]);

/** The presence command a control event carries; undefined for anything else (or a malformed one). */
function presenceCommandOf(event: StoredEvent): PresenceCommand | undefined {
  if (!isControlEvent(event)) return undefined;
  try {
    const parsed = JSON.parse(event.data) as { action?: unknown; hub?: unknown };
    if (typeof parsed.action !== 'string' || !PRESENCE_ACTIONS.has(parsed.action)) return undefined;
    if (typeof parsed.hub !== 'string') return undefined;
    return parsed as PresenceCommand;
  } catch {
    return undefined;
  }
}
