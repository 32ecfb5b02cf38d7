import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import type { Logger } from './logger.js';

/**
 * Webhook metrics and logs (docs/operations.md, "Webhooks"). Labelled by endpoint name, which the
 * operator configures (never by topic), and by reasons from fixed sets. The hooks match the
 * webhooks layer's observer (this layer does not import it: the server joins the two).
 */

export const WEBHOOK_DROP_REASONS = ['full', 'rejected', 'expired', 'queue_error'] as const;
type DropReason = (typeof WEBHOOK_DROP_REASONS)[number];

export interface WebhookHooks {
  delivered(endpoint: string, attempt: number): void;
  attemptFailed(endpoint: string, reason: string, retryInMs: number | undefined): void;
  dropped(endpoint: string, reason: DropReason, detail: { type: string; topic: string }): void;
  queueFailed(endpoint: string, error: unknown): void;
}

/** Counters and the queue-depth gauge in `registry`; `depth` is read at scrape time. */
export function webhookMetrics(
  registry: Registry,
  endpoints: readonly string[],
  depth: (endpoint: string) => Promise<number>,
): WebhookHooks {
  const registers = [registry];
  const delivered = new Counter({
    name: 'ssehub_webhooks_delivered_total',
    help: 'Webhook messages delivered (answered 2xx), by endpoint',
    labelNames: ['endpoint'],
    registers,
  });
  const failed = new Counter({
    name: 'ssehub_webhook_attempts_failed_total',
    help: 'Webhook attempts that failed (a status other than 2xx, a timeout or a network error), by endpoint',
    labelNames: ['endpoint'],
    registers,
  });
  const dropped = new Counter({
    name: 'ssehub_webhooks_dropped_total',
    help: `Webhook messages given up or never queued, by endpoint and reason (${WEBHOOK_DROP_REASONS.join(', ')})`,
    labelNames: ['endpoint', 'reason'],
    registers,
  });
  new Gauge({
    name: 'ssehub_webhook_queue_depth',
    help: 'Webhook messages waiting, by endpoint (in the shared queue: the same on every hub sharing it)',
    labelNames: ['endpoint'],
    registers,
    async collect() {
      const depths = await Promise.all(endpoints.map((endpoint) => depth(endpoint).catch(() => undefined)));
      endpoints.forEach((endpoint, index) => {
        const value = depths[index];
        if (value !== undefined) this.set({ endpoint }, value);
      });
    },
  });
  for (const endpoint of endpoints) {
    delivered.inc({ endpoint }, 0);
    failed.inc({ endpoint }, 0);
    for (const reason of WEBHOOK_DROP_REASONS) dropped.inc({ endpoint, reason }, 0);
  }
  return {
    delivered: (endpoint) => delivered.inc({ endpoint }),
    attemptFailed: (endpoint) => failed.inc({ endpoint }),
    dropped: (endpoint, reason) => dropped.inc({ endpoint, reason }),
    queueFailed: () => undefined,
  };
}

/** How often a full queue is logged per endpoint: one line, with the count dropped since the last. */
const FULL_LOG_INTERVAL_MS = 5000;

/** Log lines: every give-up and queue failure at warn, a full queue at most every 5 s per endpoint. */
export function webhookLogs(logger: Logger, now: () => number = Date.now): WebhookHooks {
  const overflow = new Map<string, { loggedAt: number; since: number }>();
  return {
    delivered: () => undefined,
    attemptFailed: (endpoint, reason, retryInMs) =>
      logger.debug({ endpoint, reason, retryInMs }, 'webhook attempt failed'),
    dropped: (endpoint, reason, detail) => {
      if (reason !== 'full') {
        logger.warn({ endpoint, reason, ...detail }, `webhook message dropped: ${reason}`);
        return;
      }
      const state = overflow.get(endpoint) ?? { loggedAt: -Infinity, since: 0 };
      overflow.set(endpoint, state);
      state.since++;
      if (now() - state.loggedAt < FULL_LOG_INTERVAL_MS) return;
      logger.warn(
        { endpoint, reason, dropped: state.since, ...detail },
        'webhook queue full: new messages are dropped until the endpoint catches up',
      );
      state.loggedAt = now();
      state.since = 0;
    },
    queueFailed: (endpoint, error) => logger.warn({ endpoint, err: error }, 'webhook queue operation failed'),
  };
}
