import type { ClaimedWebhook, WebhookQueue } from '../store/webhook-queue.js';
import type { ResolvedEndpoint } from './settings.js';
import { signatureHeaders } from './signature.js';

/**
 * Delivery to one endpoint: claims messages from the queue (one per topic at a time, so each
 * topic's messages go in order), POSTs each, and settles it: acknowledged when delivered or refused
 * for good, rescheduled with backoff otherwise. It runs beside the hub, never on its publish or
 * fan-out path: a receiver that is down or hangs only makes its own queue grow.
 */

export interface DeliverySettings {
  /** A request not answered within this is abandoned and retried (ms). */
  readonly timeoutMs: number;
  /** Requests in flight at once to this endpoint. */
  readonly concurrency: number;
  /** First retry delay (ms); doubled on each further attempt, with jitter, up to `retryMaxMs`. */
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  /** A message still undelivered this long after it was queued is given up (ms). */
  readonly maxAgeMs: number;
}

/** What happened to deliveries, for metrics and logs. */
export interface WebhookObserver {
  delivered?(endpoint: string, attempt: number): void;
  /** One attempt failed: `reason` is the HTTP status, `timeout` or `network`. */
  attemptFailed?(endpoint: string, reason: string, retryInMs: number | undefined): void;
  /**
   * A message given up or never queued: `full` (the queue was full), `rejected` (a status that
   * will not change with a retry), `expired` (undelivered for `maxAgeMs`), `queue_error` (the
   * queue failed to take it).
   */
  dropped?(endpoint: string, reason: DropReason, detail: { type: string; topic: string }): void;
  /** The queue failed an operation (it is retried). */
  queueFailed?(endpoint: string, error: unknown): void;
}

export const DROP_REASONS = ['full', 'rejected', 'expired', 'queue_error'] as const;
export type DropReason = (typeof DROP_REASONS)[number];

/** How often the queue is looked at without a local reason: messages other hubs queued, lapsed claims. */
const POLL_MS = 1000;
/** The longest `Retry-After` honoured (ms): a receiver cannot park a topic for longer. */
const MAX_RETRY_AFTER_MS = 3600 * 1000;

type Outcome =
  | { kind: 'delivered' }
  | { kind: 'rejected'; reason: string }
  | { kind: 'retry'; reason: string; retryAfterMs: number | undefined }
  | { kind: 'stopped' };

export class EndpointDelivery {
  private readonly inFlight = new Set<Promise<void>>();
  private readonly stopping = new AbortController();
  private readonly leaseMs: number;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  /** When messages this process rescheduled become due: the queue is looked at then. */
  private readonly retriesDue = new Set<number>();
  /** The running look at the queue, if any: `stop` waits for it, so no claim outlives the queue. */
  private pumping: Promise<void> | undefined;
  private pumpAgain = false;

  constructor(
    private readonly endpoint: ResolvedEndpoint,
    private readonly queue: WebhookQueue,
    private readonly settings: DeliverySettings,
    private readonly observer: WebhookObserver,
  ) {
    // Longer than any attempt can take, so a live hub's claim never lapses under it.
    this.leaseMs = settings.timeoutMs + Math.max(5000, settings.timeoutMs);
  }

  /** Looks at the queue after `delayMs` (sooner if already due). */
  kick(delayMs = 0): void {
    if (this.stopping.signal.aborted) return;
    const at = Date.now() + delayMs;
    if (at >= this.timerAt) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timerAt = Infinity;
      void this.pump();
    }, delayMs);
    this.timer.unref();
  }

  /** Stops claiming, abandons requests in flight and hands their messages back to the queue. */
  async stop(): Promise<void> {
    this.stopping.abort();
    clearTimeout(this.timer);
    // A claim answered after the abort still starts its deliveries, which hand the messages back.
    await this.pumping;
    await Promise.all([...this.inFlight]);
  }

  private async pump(): Promise<void> {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    const done = this.pumpOnce();
    this.pumping = done;
    await done;
    this.pumping = undefined;
    this.kick(this.nextWake());
  }

  private async pumpOnce(): Promise<void> {
    try {
      do {
        this.pumpAgain = false;
        const room = this.settings.concurrency - this.inFlight.size;
        if (room <= 0 || this.stopping.signal.aborted) break;
        const claimed = await this.queue.claim(this.endpoint.name, room, this.leaseMs);
        for (const message of claimed) this.start(message);
        if (claimed.length === room) this.pumpAgain = true;
      } while (this.pumpAgain);
    } catch (error) {
      this.observer.queueFailed?.(this.endpoint.name, error);
    }
  }

  /** Until the next rescheduled message is due, or the poll interval, whichever is sooner. */
  private nextWake(): number {
    const now = Date.now();
    let wake = POLL_MS;
    for (const due of this.retriesDue) {
      if (due <= now) this.retriesDue.delete(due);
      else wake = Math.min(wake, due - now);
    }
    return wake;
  }

  private start(message: ClaimedWebhook): void {
    const delivery = this.deliver(message)
      .catch((error: unknown) => this.observer.queueFailed?.(this.endpoint.name, error))
      .finally(() => {
        this.inFlight.delete(delivery);
        this.kick();
      });
    this.inFlight.add(delivery);
  }

  private async deliver(message: ClaimedWebhook): Promise<void> {
    const name = this.endpoint.name;
    const outcome = await this.attempt(message);
    if (outcome.kind === 'stopped') {
      // Shutting down: back to the queue at once, for the next life or another hub.
      await this.queue.retryLater(name, message, 0);
      return;
    }
    if (outcome.kind === 'delivered') {
      await this.queue.ack(name, message);
      this.observer.delivered?.(name, message.attempt);
      return;
    }
    if (outcome.kind === 'rejected') {
      this.observer.attemptFailed?.(name, outcome.reason, undefined);
      await this.queue.ack(name, message);
      this.observer.dropped?.(name, 'rejected', detailOf(message));
      return;
    }
    const delayMs = Math.max(this.backoff(message.attempt), outcome.retryAfterMs ?? 0);
    if (Date.now() + delayMs - message.queuedAt > this.settings.maxAgeMs) {
      this.observer.attemptFailed?.(name, outcome.reason, undefined);
      await this.queue.ack(name, message);
      this.observer.dropped?.(name, 'expired', detailOf(message));
      return;
    }
    this.observer.attemptFailed?.(name, outcome.reason, delayMs);
    await this.queue.retryLater(name, message, delayMs);
    this.retriesDue.add(Date.now() + delayMs);
  }

  private async attempt(message: ClaimedWebhook): Promise<Outcome> {
    const signal = AbortSignal.any([AbortSignal.timeout(this.settings.timeoutMs), this.stopping.signal]);
    try {
      const response = await fetch(this.endpoint.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'ssehub-webhooks',
          ...signatureHeaders(this.endpoint.key, message.id, Math.floor(Date.now() / 1000), message.body),
        },
        body: message.body,
        // A redirect is not followed: the operator configured this URL, not the receiver.
        redirect: 'manual',
        signal,
      });
      await response.body?.cancel().catch(() => undefined);
      return outcomeOf(response);
    } catch (error) {
      if (this.stopping.signal.aborted) return { kind: 'stopped' };
      const timedOut = error instanceof DOMException && error.name === 'TimeoutError';
      return { kind: 'retry', reason: timedOut ? 'timeout' : 'network', retryAfterMs: undefined };
    }
  }

  /** Exponential, capped, with equal jitter: receivers coming back are not hit by every hub at once. */
  private backoff(attempt: number): number {
    const { retryBaseMs, retryMaxMs } = this.settings;
    const ceiling = Math.min(retryMaxMs, retryBaseMs * 2 ** Math.min(30, attempt - 1));
    return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
  }
}

/**
 * 2xx is delivered. 408, 429 and 5xx are worth a retry (honouring `Retry-After` on 429 and 503);
 * any other status (other 4xx, a redirect) says the request itself is unwanted: it is given up.
 */
function outcomeOf(response: Response): Outcome {
  const status = response.status;
  if (status >= 200 && status < 300) return { kind: 'delivered' };
  if (status === 408 || status === 429 || status >= 500) {
    const retryAfterMs =
      status === 429 || status === 503 ? retryAfterOf(response.headers.get('retry-after')) : undefined;
    return { kind: 'retry', reason: String(status), retryAfterMs };
  }
  return { kind: 'rejected', reason: String(status) };
}

/** `Retry-After` as seconds or an HTTP date, in ms from now, capped; undefined when unusable. */
function retryAfterOf(header: string | null): number | undefined {
  if (header === null) return undefined;
  const value = header.trim();
  const ms = /^[0-9]{1,10}$/.test(value) ? Number(value) * 1000 : Date.parse(value) - Date.now();
  if (!Number.isFinite(ms)) return undefined;
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ms));
}

function detailOf(message: ClaimedWebhook): { type: string; topic: string } {
  try {
    const { type } = JSON.parse(message.body) as { type?: unknown };
    return { type: typeof type === 'string' ? type : 'unknown', topic: message.orderKey };
  } catch {
    return { type: 'unknown', topic: message.orderKey };
  }
}
