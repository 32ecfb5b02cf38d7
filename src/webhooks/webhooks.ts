import { createHash, randomUUID } from 'node:crypto';
import type { Hub } from '../hub/hub.js';
import { isControlEvent } from '../hub/control.js';
import { SUBSCRIPTIONS_PATH, subscriptionDocument } from '../hub/subscription-format.js';
import type { PresenceEvent } from '../hub/presence.js';
import type { StoredEvent } from '../store/types.js';
import { MemoryWebhookQueue } from '../store/webhook-queue.js';
import type { WebhookQueue } from '../store/webhook-queue.js';
import { EndpointDelivery } from './delivery.js';
import type { DeliverySettings, WebhookObserver } from './delivery.js';
import { PRESENCE_EVENT_TYPES, WebhookConfigError, resolveEndpoints } from './settings.js';
import type { ResolvedEndpoint, WebhookEndpoint, WebhookEventType } from './settings.js';

export interface WebhooksOptions {
  endpoints: readonly WebhookEndpoint[];
  /**
   * Where messages wait: `MemoryWebhookQueue` by default (lost when the process exits);
   * `SqliteWebhookQueue` (`ssehub/sqlite`) or `RedisWebhookQueue` (`ssehub/redis`) keep them
   * across restarts. Closed by `close()`.
   */
  queue?: WebhookQueue | undefined;
  /** For the default queue: most messages waiting per endpoint. Default 10,000. */
  maxQueued?: number | undefined;
  /** A request not answered within this is abandoned and retried (ms). Default 10,000. */
  timeoutMs?: number | undefined;
  /** Requests in flight at once per endpoint. Default 4. */
  concurrency?: number | undefined;
  /** First retry delay (ms), doubled per attempt with jitter. Default 1000. */
  retryBaseMs?: number | undefined;
  /** Longest retry delay (ms). Default 300,000 (5 minutes). */
  retryMaxMs?: number | undefined;
  /** A message undelivered this long after it was queued is given up (ms). Default 24 hours. */
  maxAgeMs?: number | undefined;
  /** Deliveries, failures and drops, for metrics and logs. */
  observer?: WebhookObserver | undefined;
}

/** Webhooks attached to a hub (`createWebhooks`). */
export interface Webhooks {
  /** The endpoints' names. */
  readonly endpoints: readonly string[];
  /** Messages waiting for an endpoint (in the queue, so across hubs sharing it). */
  depth(endpoint: string): Promise<number>;
  /** Stops queueing and delivering; requests in flight are abandoned and stay queued. Closes the queue. */
  close(): Promise<void>;
}

export const DEFAULT_WEBHOOK_SETTINGS: DeliverySettings = Object.freeze({
  timeoutMs: 10_000,
  concurrency: 4,
  retryBaseMs: 1000,
  retryMaxMs: 300_000,
  maxAgeMs: 24 * 3600 * 1000,
});

/**
 * Sends webhooks for a hub's events: presence changes (`topic.occupied`, `topic.vacant`,
 * `subscription.active`, `subscription.inactive`; the hub must track presence) and published
 * updates (`update.published`). Each message is signed (Standard Webhooks), queued, and delivered
 * at least once, in order per topic, with retries; see docs/operations.md, "Webhooks".
 *
 * With hubs sharing a store and a shared queue, each presence change is queued by the one hub that
 * caused it, and each update is offered by every hub but queued once (its id is derived from the
 * event's).
 */
export function createWebhooks(hub: Hub, options: WebhooksOptions): Webhooks {
  const endpoints = resolveEndpoints(options.endpoints);
  if (!hub.tracksPresence && endpoints.some((e) => [...e.events].some((t) => PRESENCE_EVENT_TYPES.has(t)))) {
    throw new WebhookConfigError(
      'webhooks: presence events (topic.*, subscription.*) need a hub that tracks presence (HubOptions.presence, --subscriptions)',
    );
  }
  const settings = settingsOf(options);
  const observer = options.observer ?? {};
  const queue = options.queue ?? new MemoryWebhookQueue({ maxQueued: options.maxQueued });
  const deliveries = new Map(
    endpoints.map((endpoint) => [endpoint.name, new EndpointDelivery(endpoint, queue, settings, observer)]),
  );
  let closed = false;

  const offer = (
    endpoint: ResolvedEndpoint,
    type: WebhookEventType,
    topic: string,
    data: unknown,
    id: string,
  ) => {
    const body = JSON.stringify({ type, timestamp: new Date().toISOString(), data });
    queue.enqueue(endpoint.name, { id, orderKey: topic, body }).then(
      (outcome) => {
        if (outcome === 'queued') deliveries.get(endpoint.name)?.kick();
        else if (outcome === 'full') observer.dropped?.(endpoint.name, 'full', { type, topic });
      },
      (error: unknown) => {
        observer.queueFailed?.(endpoint.name, error);
        observer.dropped?.(endpoint.name, 'queue_error', { type, topic });
      },
    );
  };

  const detachPresence = hub.onPresence((event, change) => {
    // Every hub sharing the store hears the change; the one that caused it sends it.
    if (!change.local || closed) return;
    const { type, topic, data } = presenceMessage(event);
    for (const endpoint of endpoints) {
      if (endpoint.events.has(type) && selects(endpoint, [topic]))
        offer(endpoint, type, topic, data, newId());
    }
  });
  const detachFeed = hub.store.onEvent((event) => {
    if (closed || isControlEvent(event) || event.topics.some((t) => t.startsWith(`${SUBSCRIPTIONS_PATH}/`)))
      return;
    for (const endpoint of endpoints) {
      if (!endpoint.events.has('update.published') || !selects(endpoint, event.topics)) continue;
      const topic = event.topics[0] as string;
      offer(endpoint, 'update.published', topic, updateData(event), idOfUpdate(endpoint, event));
    }
  });
  // What an earlier life left in a durable queue goes out now.
  for (const delivery of deliveries.values()) delivery.kick();

  return {
    endpoints: endpoints.map((endpoint) => endpoint.name),
    depth: (endpoint) => queue.depth(endpoint),
    async close() {
      if (closed) return;
      closed = true;
      detachPresence();
      detachFeed();
      await Promise.all([...deliveries.values()].map((delivery) => delivery.stop()));
      await queue.close();
    },
  };
}

function settingsOf(options: WebhooksOptions): DeliverySettings {
  const settings = { ...DEFAULT_WEBHOOK_SETTINGS };
  for (const key of Object.keys(settings) as (keyof DeliverySettings)[]) {
    const value = options[key];
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new WebhookConfigError(`webhooks.${key}: expected a positive integer, got ${String(value)}`);
    }
    settings[key] = value;
  }
  return settings;
}

function selects(endpoint: ResolvedEndpoint, topics: readonly string[]): boolean {
  const selectors = endpoint.selectors;
  return !selectors || selectors.some((selector) => topics.some((topic) => selector.matches(topic)));
}

function presenceMessage(event: PresenceEvent): { type: WebhookEventType; topic: string; data: unknown } {
  if (!('subscription' in event)) {
    return { type: `topic.${event.type}`, topic: event.topic, data: { topic: event.topic } };
  }
  const { subscription } = event;
  return {
    type: `subscription.${event.type}`,
    topic: subscription.topic,
    data: subscriptionDocument(subscription, event.type === 'active'),
  };
}

function updateData(event: StoredEvent): Record<string, unknown> {
  return {
    id: event.id,
    topics: event.topics,
    data: event.data,
    ...(event.type === undefined ? {} : { type: event.type }),
    private: event.private,
  };
}

function newId(): string {
  return `msg_${randomUUID().replaceAll('-', '')}`;
}

/** The same on every hub that sees the event: the queue keeps one of their offers. */
function idOfUpdate(endpoint: ResolvedEndpoint, event: StoredEvent): string {
  const digest = createHash('sha256').update(`${endpoint.name}\0${event.cursor}`).digest('base64url');
  return `msg_${digest.slice(0, 32)}`;
}
