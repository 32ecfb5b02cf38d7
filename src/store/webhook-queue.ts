/**
 * The WebhookQueue seam: where webhook messages wait for delivery, so that what is pending outlives
 * the process when the queue lives in a durable store (SQLite, Redis).
 *
 * Messages are kept per endpoint and, within an endpoint, per order key (a topic): a claim hands out
 * at most one message of an order key at a time (its oldest), so deliveries of one topic go one
 * after another, in the order queued, while other topics proceed. A claim is a lease: when it is
 * neither acknowledged nor rescheduled in time (its holder died), the message can be claimed again.
 */

/** One message to deliver to an endpoint. */
export interface WebhookMessage {
  /** The `webhook-id`: the receiver's idempotency key, the same on every attempt. */
  readonly id: string;
  /** Messages sharing an order key are delivered one at a time, in the order they were queued. */
  readonly orderKey: string;
  /** The request body (JSON). */
  readonly body: string;
}

/** A message handed out by `claim`, for one delivery attempt. */
export interface ClaimedWebhook extends WebhookMessage {
  /** 1 on the first claim, then one more on each. */
  readonly attempt: number;
  /** When it was queued (ms since the epoch, on the queue's clock). */
  readonly queuedAt: number;
  /** Proves the claim in `ack` and `retryLater`; a claim that lapsed proves nothing. */
  readonly claim: string;
}

export type EnqueueOutcome =
  /** Stored; it will be claimed. */
  | 'queued'
  /** A message with this id was queued within the dedup window: nothing was stored. */
  | 'duplicate'
  /** The endpoint already has `maxQueued` messages waiting: nothing was stored. */
  | 'full';

export interface WebhookQueueLimits {
  /** Most messages waiting per endpoint; an enqueue past it answers `full`. Default 10,000. */
  maxQueued?: number | undefined;
  /**
   * How long a message id is remembered against a second enqueue (ms). Default 10 minutes. The
   * memory queue remembers at most `maxQueued` ids per endpoint, the newest.
   */
  dedupWindowMs?: number | undefined;
}

export const DEFAULT_WEBHOOK_MAX_QUEUED = 10_000;
export const DEFAULT_WEBHOOK_DEDUP_WINDOW_MS = 10 * 60 * 1000;

export interface WebhookQueue {
  /** `memory`, `sqlite` or `redis`. */
  readonly kind: string;
  /**
   * Adds a message at the end of its order key's line. The same id queued again within the dedup
   * window is a `duplicate` (hubs sharing a queue may each offer the same event).
   */
  enqueue(endpoint: string, message: WebhookMessage): Promise<EnqueueOutcome>;
  /**
   * Claims up to `limit` messages of `endpoint`, each the oldest of an order key that has no claim
   * in force and is not waiting for a retry, for `leaseMs`.
   */
  claim(endpoint: string, limit: number, leaseMs: number): Promise<ClaimedWebhook[]>;
  /**
   * Removes a claimed message (delivered, or given up); false when its claim is no longer the one in
   * force (it lapsed and the message was claimed again).
   */
  ack(endpoint: string, message: ClaimedWebhook): Promise<boolean>;
  /**
   * Releases a claim; the message stays first of its order key, claimable again after `delayMs`.
   * False when its claim is no longer the one in force.
   */
  retryLater(endpoint: string, message: ClaimedWebhook, delayMs: number): Promise<boolean>;
  /** Messages waiting for `endpoint` (claimed ones included). */
  depth(endpoint: string): Promise<number>;
  close(): Promise<void>;
}

interface QueuedMessage extends WebhookMessage {
  readonly queuedAt: number;
  attempts: number;
}

interface OrderLine {
  readonly messages: QueuedMessage[];
  notBefore: number;
  claim: string | undefined;
  leaseUntil: number;
}

interface EndpointQueue {
  /** Order key → its line; iteration order is the rotation of claims. */
  readonly lines: Map<string, OrderLine>;
  size: number;
}

/**
 * The queue in this process only: what is pending is lost when the process exits. The default of
 * `createWebhooks`, and the standalone hub's with the memory store.
 */
export class MemoryWebhookQueue implements WebhookQueue {
  readonly kind = 'memory';
  private readonly endpoints = new Map<string, EndpointQueue>();
  /** Id → until when it counts as a duplicate; insertion order is expiry order. */
  private readonly seen = new Map<string, number>();
  private readonly maxQueued: number;
  private readonly dedupWindowMs: number;
  private nextClaim = 1;

  constructor(
    limits: WebhookQueueLimits = {},
    private readonly now: () => number = Date.now,
  ) {
    this.maxQueued = limits.maxQueued ?? DEFAULT_WEBHOOK_MAX_QUEUED;
    this.dedupWindowMs = limits.dedupWindowMs ?? DEFAULT_WEBHOOK_DEDUP_WINDOW_MS;
  }

  enqueue(endpoint: string, message: WebhookMessage): Promise<EnqueueOutcome> {
    const now = this.now();
    this.forgetSeen(now);
    const seenKey = `${endpoint}\0${message.id}`;
    if (this.seen.has(seenKey)) return Promise.resolve('duplicate');
    const queue = this.queueOf(endpoint);
    if (queue.size >= this.maxQueued) return Promise.resolve('full');
    this.seen.set(seenKey, now + this.dedupWindowMs);
    this.forgetSeenBeyond(this.maxQueued * this.endpoints.size);
    let line = queue.lines.get(message.orderKey);
    if (!line) {
      line = { messages: [], notBefore: 0, claim: undefined, leaseUntil: 0 };
      queue.lines.set(message.orderKey, line);
    }
    const { id, orderKey, body } = message;
    line.messages.push({ id, orderKey, body, queuedAt: now, attempts: 0 });
    queue.size++;
    return Promise.resolve('queued');
  }

  claim(endpoint: string, limit: number, leaseMs: number): Promise<ClaimedWebhook[]> {
    const queue = this.endpoints.get(endpoint);
    const claimed: ClaimedWebhook[] = [];
    if (!queue) return Promise.resolve(claimed);
    const now = this.now();
    for (const [key, line] of [...queue.lines]) {
      if (claimed.length >= limit) break;
      const head = line.messages[0];
      if (!head || line.notBefore > now || (line.claim !== undefined && line.leaseUntil > now)) continue;
      line.claim = `m${this.nextClaim++}`;
      line.leaseUntil = now + leaseMs;
      head.attempts++;
      // To the back of the rotation: the next claim starts with the lines that waited longest.
      queue.lines.delete(key);
      queue.lines.set(key, line);
      claimed.push({ ...head, attempt: head.attempts, claim: line.claim });
    }
    return Promise.resolve(claimed);
  }

  ack(endpoint: string, message: ClaimedWebhook): Promise<boolean> {
    const queue = this.endpoints.get(endpoint);
    const line = this.claimedLine(queue, message);
    if (!queue || !line) return Promise.resolve(false);
    line.messages.shift();
    queue.size--;
    line.claim = undefined;
    line.notBefore = 0;
    if (line.messages.length === 0) queue.lines.delete(message.orderKey);
    return Promise.resolve(true);
  }

  retryLater(endpoint: string, message: ClaimedWebhook, delayMs: number): Promise<boolean> {
    const line = this.claimedLine(this.endpoints.get(endpoint), message);
    if (!line) return Promise.resolve(false);
    line.claim = undefined;
    line.notBefore = this.now() + delayMs;
    return Promise.resolve(true);
  }

  depth(endpoint: string): Promise<number> {
    return Promise.resolve(this.endpoints.get(endpoint)?.size ?? 0);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private claimedLine(queue: EndpointQueue | undefined, message: ClaimedWebhook): OrderLine | undefined {
    const line = queue?.lines.get(message.orderKey);
    if (!line || line.claim !== message.claim) return undefined;
    return line.messages[0]?.id === message.id ? line : undefined;
  }

  private queueOf(endpoint: string): EndpointQueue {
    let queue = this.endpoints.get(endpoint);
    if (!queue) this.endpoints.set(endpoint, (queue = { lines: new Map(), size: 0 }));
    return queue;
  }

  /**
   * Keeps the newest `count` ids only: delivered messages' ids would otherwise stay for the whole
   * window, at the publish rate (600,000 at 1,000 a second, 180 MB). Forgetting one early at worst
   * lets a duplicate through, which at-least-once delivery allows (receivers dedupe by id).
   */
  private forgetSeenBeyond(count: number): void {
    for (const key of this.seen.keys()) {
      if (this.seen.size <= count) return;
      this.seen.delete(key);
    }
  }

  private forgetSeen(now: number): void {
    for (const [key, until] of this.seen) {
      if (until > now) return;
      this.seen.delete(key);
    }
  }
}
