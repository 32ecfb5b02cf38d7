/**
 * `ssehub`: the hub, its in-memory store, the Store seam for other stores, and the errors it
 * raises. Stores with dependencies of their own have their own entry points (`ssehub/redis`), so
 * importing this one loads none of them.
 */

/** Fans published events out to subscribers and resumes them after their `Last-Event-ID`. */
export { Hub } from './hub/hub.js';
/** The hub's settings: store, `retry:`, heartbeat, per-subscriber buffer bound, observer. */
export type { HubOptions } from './hub/hub.js';
/** Optional hooks for metrics and logs. */
export type { HubObserver } from './hub/hub.js';
/** One active subscription, as `hub.presence()` lists it and the subscriptions API shows it. */
export type { ActiveSubscription } from './hub/subscription-format.js';
/** What `hub.onPresence` hears: a subscription became active or inactive, a selector occupied or vacant. */
export type { PresenceEvent } from './hub/presence.js';
/** Presence settings (`HubOptions.presence`): lease, grace period, where leases are kept. */
export type { PresenceOptions } from './hub/presence.js';
/** What `hub.presenceStats()` answers: active subscriptions, occupied selectors, presence counts. */
export type { PresenceStats } from './hub/presence.js';
/** The second argument of `hub.onPresence` listeners: whether this hub caused the change. */
export type { PresenceChange } from './hub/presence.js';
/** Where hubs sharing a store keep their presence leases. */
export type { PresenceLeases } from './hub/presence-leases.js';
/** Counts returned by `hub.stats()`. */
export type { HubStats } from './hub/hub.js';
/** What `hub.subscribe()` takes: topic selectors, the resume point, the sink, the grant. */
export type { SubscribeOptions } from './hub/hub.js';
/** An open subscription: its id, where it started, and `close()`. */
export type { Subscription } from './hub/hub.js';
/** Where a stream starts, decided before any byte is written. */
export type { SubscriptionStart } from './hub/hub.js';
/** What `hub.publish()` takes: an event, with an optional TTL and state version. */
export type { PublishInput } from './hub/hub.js';
/** Options of `hub.publish()`: an `Idempotency-Key`. */
export type { PublishOptions } from './hub/hub.js';
/** A state supplied by `HubOptions.getState` for a topic the hub has none of. */
export type { SuppliedState } from './hub/hub.js';
/** One topic's delivery policy: mode (`stream`, `state`), TTL, slow-consumer policy. */
export type { TopicPolicy } from './hub/policy.js';
/** Topic selector → policy (`HubOptions.topics`); the first selector matching a topic wins. */
export type { TopicPolicies } from './hub/policy.js';
/** `stream` (exact resume) or `state` (latest state per topic). */
export type { DeliveryMode } from './hub/policy.js';
/** `disconnect`, `skip` or `latest`: what happens to a subscriber that reads too slowly. */
export type { SlowConsumerPolicy } from './hub/policy.js';
/** A topic policy that cannot be used (code `invalid_input`). */
export { PolicyError } from './hub/policy.js';
/** Where a subscriber's bytes go (a response, a socket, a test buffer). */
export type { SubscriberSink } from './hub/subscriber.js';
/** What an observer may know of a subscriber: a read-only view. */
export type { SubscriberView } from './hub/subscriber.js';
/** Why a subscription ended. */
export type { CloseReason } from './hub/subscriber.js';
/** The content of the reset event sent when a stream cannot resume where it asked. */
export type { ResetSignal } from './hub/frame.js';
/** The SSE event type of that reset signal. */
export { RESET_EVENT_TYPE } from './protocol/constants.js';

/** The default store: a ring buffer of recent events in this process. */
export { MemoryStore } from './store/memory.js';
/** MemoryStore's settings: history size and age. */
export type { MemoryStoreOptions } from './store/memory.js';
/** The store seam: implement it to keep events elsewhere. */
export type { Store } from './store/types.js';
/** An event as stored, with its id, cursor and time. */
export type { StoredEvent } from './store/types.js';
/** An event as published. */
export type { EventInput } from './store/types.js';
/** A page of history (`Store.readPage`), or why it cannot be read. */
export type { HistoryPage } from './store/types.js';
/** What `Store.readPage` is asked for. */
export type { PageRequest } from './store/types.js';
/** What `Store.readLatest` (backward reads, for rewinds) is asked for, and what it answers. */
export type { LatestPage, LatestRequest } from './store/types.js';
/** Where a `Last-Event-ID` resumes (`Store.locate`), or why it cannot. */
export type { ResumePoint } from './store/types.js';
/** Why a resume point cannot be found. */
export type { ResumeFailure } from './store/types.js';
/** A listener on a store's live feed. */
export type { LiveListener } from './store/types.js';
/** What `Store.readStates` is asked for. */
export type { StateRequest } from './store/types.js';
/** The kept states and the log cursor they are current at (`Store.readStates`). */
export type { StateSnapshot } from './store/types.js';
/** An `Idempotency-Key` claim checked by `Store.append`. */
export type { IdempotencyClaim } from './store/types.js';
/** The cursor before the first event ever stored: a full replay. */
export { EARLIEST } from './store/types.js';

/** The base of every error ssehub raises on purpose; branch on its `code`. */
export { SsehubError } from './errors.js';
/** The codes an SsehubError can carry. */
export type { ErrorCode } from './errors.js';
/** A publish that cannot be accepted as given (code `invalid_input`). */
export { HubInputError } from './hub/validate.js';
/** A store refusing an append as given (code `invalid_input`, `conflict` or `idempotency_key_reused`). */
export { StoreInputError } from './store/errors.js';
/** The store cannot take or read events now (code `store_unavailable`); nothing was stored. */
export { StoreUnavailableError } from './store/errors.js';

/** Sends signed webhooks (Standard Webhooks) for a hub's presence changes and updates, queued and retried. */
export { createWebhooks } from './webhooks/webhooks.js';
/** `createWebhooks`' settings: endpoints, queue, timeout, concurrency, retry schedule, observer. */
export type { WebhooksOptions } from './webhooks/webhooks.js';
/** Webhooks attached to a hub: queue depth per endpoint, `close()`. */
export type { Webhooks } from './webhooks/webhooks.js';
/** One webhook receiver: URL, secret, events, topic selectors, name. */
export type { WebhookEndpoint } from './webhooks/settings.js';
/** What a webhook is sent for (`topic.occupied`, …, `update.published`). */
export type { WebhookEventType } from './webhooks/settings.js';
/** Hooks hearing webhook deliveries, failed attempts and drops (metrics, logs). */
export type { WebhookObserver } from './webhooks/delivery.js';
/** Webhook settings that cannot be used (code `invalid_input`); the message never shows the secret. */
export { WebhookConfigError } from './webhooks/settings.js';
/** The webhook queue seam (memory by default; `ssehub/sqlite` and `ssehub/redis` keep it across restarts). */
export type { WebhookQueue } from './store/webhook-queue.js';
