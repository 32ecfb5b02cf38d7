import type { EventInput } from '../store/types.js';
import type { MatchType } from './topic-selector.js';

/**
 * The two shapes of Mercure's subscription events and API documents (see docs/protocol.md,
 * "Subscription events: draft-07 and draft-08"):
 *
 * - draft-07: the event's topic is `/.well-known/mercure/subscriptions/{topic}/{subscriber}`, its
 *   data a JSON-LD `Subscription` (`topic`, `subscriber`, `active`, `payload`), an unnamed SSE event;
 *   the API answers `application/ld+json` with `lastEventID` in the body.
 * - draft-08: the topic is `/.well-known/mercure/subscriptions/{match_type}/{match}/{subscriber}`, the
 *   data plain JSON (`type: "subscription"`, `match`, `match_type`), sent as SSE `event: mercure`;
 *   the API answers `application/json` and gives its cursor in a `Link` header.
 *
 * A hub publishes the shapes its format names (`both`: each change twice, one event per shape, on
 * topics no selector of the other shape matches), and its API answers each request in one of them.
 */

/** The hub's well-known path, which a subscriptions API answer links to as `rel="mercure"`. */
export const WELL_KNOWN_HUB_PATH = '/.well-known/mercure';
export const SUBSCRIPTIONS_PATH = `${WELL_KNOWN_HUB_PATH}/subscriptions`;
export const SUBSCRIPTION_FORMATS = ['draft-07', 'draft-08', 'both'] as const;
export type SubscriptionsFormat = (typeof SUBSCRIPTION_FORMATS)[number];
/** One shape of documents. */
export type SubscriptionShape = 'draft-07' | 'draft-08';
/** The SSE event type of draft-08 subscription events. */
export const DRAFT_08_EVENT_TYPE = 'mercure';

/** One active subscription, as the API and the events show it. */
export interface ActiveSubscription {
  /** The draft-07 subscription event's topic: `/.well-known/mercure/subscriptions/{topic}/{subscriber}`. */
  readonly id: string;
  /** The selector subscribed to. */
  readonly topic: string;
  readonly matchType: MatchType;
  readonly subscriber: string;
  readonly payload?: unknown;
}

export function shapesOf(format: SubscriptionsFormat): SubscriptionShape[] {
  return format === 'both' ? ['draft-07', 'draft-08'] : [format];
}

/** RFC 6570 simple expansion: everything but unreserved characters percent-encoded (`:`, `/`, `{`, `}` too). */
export function subscriptionTopic(topic: string, subscriber: string): string {
  return `${SUBSCRIPTIONS_PATH}/${encodeURIComponent(topic)}/${encodeURIComponent(subscriber)}`;
}

/** The draft-08 event topic: `/.well-known/mercure/subscriptions/{match_type}/{match}/{subscriber}`. */
export function draft08Topic(entry: ActiveSubscription): string {
  return [SUBSCRIPTIONS_PATH, entry.matchType, entry.topic, entry.subscriber]
    .map((part, index) => (index === 0 ? part : encodeURIComponent(part)))
    .join('/');
}

/** The topic of a subscription's event in one shape (what a token's rights must cover to see it). */
export function topicIn(shape: SubscriptionShape, entry: ActiveSubscription): string {
  return shape === 'draft-07' ? entry.id : draft08Topic(entry);
}

/** The JSON-LD document of a subscription (its draft-07 event's data, and an entry of the API). */
export function subscriptionDocument(entry: ActiveSubscription, active: boolean): Record<string, unknown> {
  return {
    id: entry.id,
    type: 'Subscription',
    topic: entry.topic,
    ...(entry.matchType === 'template' ? {} : { match_type: entry.matchType }),
    subscriber: entry.subscriber,
    active,
    ...(entry.payload === undefined ? {} : { payload: entry.payload }),
  };
}

/**
 * The draft-08 document of a subscription. A draft-07 `topic=` selector (a URI template or a plain
 * string) has no draft-08 matcher type: it is shown with `match_type: "template"`, ssehub's own.
 */
export function draft08Document(entry: ActiveSubscription, active: boolean): Record<string, unknown> {
  return {
    type: 'subscription',
    id: draft08Topic(entry),
    match: entry.topic,
    match_type: entry.matchType,
    subscriber: entry.subscriber,
    active,
    ...(entry.payload === undefined ? {} : { payload: entry.payload }),
  };
}

export function documentIn(shape: SubscriptionShape, entry: ActiveSubscription, active: boolean) {
  return shape === 'draft-07' ? subscriptionDocument(entry, active) : draft08Document(entry, active);
}

/** The private update announcing a change of a subscription, in one shape. */
export function subscriptionEvent(
  shape: SubscriptionShape,
  entry: ActiveSubscription,
  active: boolean,
): EventInput {
  if (shape === 'draft-08') {
    return {
      topics: [draft08Topic(entry)],
      data: JSON.stringify(draft08Document(entry, active)),
      type: DRAFT_08_EVENT_TYPE,
      private: true,
    };
  }
  return {
    topics: [entry.id],
    data: JSON.stringify({ '@context': 'https://mercure.rocks/', ...subscriptionDocument(entry, active) }),
    private: true,
  };
}
