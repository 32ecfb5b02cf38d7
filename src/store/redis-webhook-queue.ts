import { createHash, randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Cluster, RedisOptions } from 'ioredis';
import { DEFAULT_REDIS_PREFIX, REDIS_PREFIX_PATTERN, REDIS_PREFIX_RULE } from '../defaults.js';
import { DEFAULT_WEBHOOK_DEDUP_WINDOW_MS, DEFAULT_WEBHOOK_MAX_QUEUED } from './webhook-queue.js';
import type {
  ClaimedWebhook,
  EnqueueOutcome,
  WebhookMessage,
  WebhookQueue,
  WebhookQueueLimits,
} from './webhook-queue.js';

/**
 * Per endpoint, under `{prefix}:webhooks:<endpoint hash>`:
 * - `:msgs` hash id → JSON message, `:attempts` hash id → claims so far;
 * - `:line:<order key hash>` list of ids, oldest first;
 * - `:ready` sorted set of lines whose head may be claimed, scored by when (ms, Redis's clock);
 * - `:leased` sorted set of claimed lines, scored by when the lease lapses; `:claims` line → token;
 * - `:seen:<id>` remembered for the dedup window.
 * Every script reads the time from Redis (`TIME`), so hubs with skewed clocks agree on leases and
 * retry times. Line and seen keys are built inside the scripts; they share the `{prefix}` hash tag,
 * hence the slot, of the declared keys.
 */
const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/** KEYS: msgs, ready, leased. ARGV: base, line, id, json, maxQueued, dedupWindowMs. */
const ENQUEUE = `${NOW}
local seen = ARGV[1] .. ':seen:' .. ARGV[3]
if redis.call('EXISTS', seen) == 1 then return 'duplicate' end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[5]) then return 'full' end
redis.call('SET', seen, '1', 'PX', ARGV[6])
redis.call('HSET', KEYS[1], ARGV[3], ARGV[4])
if redis.call('RPUSH', ARGV[1] .. ':line:' .. ARGV[2], ARGV[3]) == 1 then
  redis.call('ZADD', KEYS[2], now, ARGV[2])
end
return 'queued'`;

/** KEYS: msgs, ready, leased, claims, attempts. ARGV: base, limit, leaseMs, token. */
const CLAIM = `${NOW}
for _, line in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)) do
  redis.call('ZREM', KEYS[3], line)
  redis.call('HDEL', KEYS[4], line)
  redis.call('ZADD', KEYS[2], now, line)
end
local out = {}
for i, line in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))) do
  redis.call('ZREM', KEYS[2], line)
  local id = redis.call('LINDEX', ARGV[1] .. ':line:' .. line, 0)
  local message = id and redis.call('HGET', KEYS[1], id)
  if message then
    local token = ARGV[4] .. '-' .. i
    redis.call('ZADD', KEYS[3], now + tonumber(ARGV[3]), line)
    redis.call('HSET', KEYS[4], line, token)
    local attempt = redis.call('HINCRBY', KEYS[5], id, 1)
    table.insert(out, { line, token, message, attempt })
  end
end
return out`;

/** KEYS: msgs, ready, leased, claims, attempts. ARGV: base, line, token, id, delayMs or '' to remove. */
const SETTLE = `${NOW}
if redis.call('HGET', KEYS[4], ARGV[2]) ~= ARGV[3] then return 0 end
redis.call('HDEL', KEYS[4], ARGV[2])
redis.call('ZREM', KEYS[3], ARGV[2])
local list = ARGV[1] .. ':line:' .. ARGV[2]
if ARGV[5] ~= '' then
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[5]), ARGV[2])
  return 1
end
redis.call('LREM', list, 1, ARGV[4])
redis.call('HDEL', KEYS[1], ARGV[4])
redis.call('HDEL', KEYS[5], ARGV[4])
if redis.call('LLEN', list) > 0 then redis.call('ZADD', KEYS[2], now, ARGV[2]) end
return 1`;

export interface RedisWebhookQueueOptions extends WebhookQueueLimits {
  /** `redis://…` URL; default `redis://127.0.0.1:6379`. Ignored when `redis` is given. */
  url?: string | undefined;
  /**
   * A connection to use (and close) instead of one opened from `url`: a `Redis`, or a `Cluster`
   * (every key of one prefix is in one hash slot, also those the scripts build).
   */
  redis?: Redis | Cluster | undefined;
  redisOptions?: RedisOptions | undefined;
  /** Namespace of the keys: the history's prefix, so hubs sharing it share the queue. Default `ssehub`. */
  prefix?: string | undefined;
}

interface StoredMessage {
  id: string;
  orderKey: string;
  body: string;
  queuedAt: number;
}

/**
 * The webhook queue in Redis, shared by every hub with the same prefix: what is pending outlives
 * any hub; hubs claim with leases, so two never send the same message at once and a dead hub's
 * claims are taken over once they lapse. The same event offered by several hubs is queued once.
 */
export class RedisWebhookQueue implements WebhookQueue {
  readonly kind = 'redis';
  private readonly client: Redis | Cluster;
  private readonly prefix: string;
  private readonly maxQueued: number;
  private readonly dedupWindowMs: number;
  private readonly scripts = new Map<string, string>();

  constructor(options: RedisWebhookQueueOptions = {}) {
    const prefix = options.prefix ?? DEFAULT_REDIS_PREFIX;
    if (!REDIS_PREFIX_PATTERN.test(prefix)) {
      throw new RangeError(`Redis key prefix must be ${REDIS_PREFIX_RULE}, got ${JSON.stringify(prefix)}`);
    }
    this.prefix = prefix;
    this.maxQueued = options.maxQueued ?? DEFAULT_WEBHOOK_MAX_QUEUED;
    this.dedupWindowMs = options.dedupWindowMs ?? DEFAULT_WEBHOOK_DEDUP_WINDOW_MS;
    this.client =
      options.redis ??
      new Redis(options.url ?? 'redis://127.0.0.1:6379', {
        maxRetriesPerRequest: 1,
        commandTimeout: 5000,
        ...options.redisOptions,
      });
    // Failures surface as rejected operations; the dispatcher retries on its next turn.
    this.client.on('error', () => undefined);
  }

  async enqueue(endpoint: string, message: WebhookMessage): Promise<EnqueueOutcome> {
    const keys = this.keysOf(endpoint);
    const stored: StoredMessage = { ...pick(message), queuedAt: Date.now() };
    const outcome = await this.run(ENQUEUE, keys.slice(0, 3), [
      keys.base,
      hashOf(message.orderKey),
      message.id,
      JSON.stringify(stored),
      this.maxQueued,
      this.dedupWindowMs,
    ]);
    return outcome as EnqueueOutcome;
  }

  async claim(endpoint: string, limit: number, leaseMs: number): Promise<ClaimedWebhook[]> {
    const keys = this.keysOf(endpoint);
    const token = randomBytes(9).toString('base64url');
    const rows = (await this.run(CLAIM, keys.slice(0, 5), [keys.base, limit, Math.ceil(leaseMs), token])) as [
      string,
      string,
      string,
      number,
    ][];
    return rows.map(([line, claim, json, attempt]) => {
      const stored = JSON.parse(json) as StoredMessage;
      // The claim names its line, so that settling it needs no lookup.
      return { ...stored, attempt, claim: `${line}.${claim}` };
    });
  }

  async ack(endpoint: string, message: ClaimedWebhook): Promise<boolean> {
    return this.settle(endpoint, message, '');
  }

  async retryLater(endpoint: string, message: ClaimedWebhook, delayMs: number): Promise<boolean> {
    return this.settle(endpoint, message, String(Math.max(0, Math.ceil(delayMs))));
  }

  async depth(endpoint: string): Promise<number> {
    return this.client.hlen(this.keysOf(endpoint)[0] as string);
  }

  async close(): Promise<void> {
    this.client.disconnect();
    return Promise.resolve();
  }

  private async settle(endpoint: string, message: ClaimedWebhook, delay: string): Promise<boolean> {
    const keys = this.keysOf(endpoint);
    const dot = message.claim.indexOf('.');
    const line = message.claim.slice(0, dot);
    const token = message.claim.slice(dot + 1);
    const settled = await this.run(SETTLE, keys.slice(0, 5), [keys.base, line, token, message.id, delay]);
    return settled === 1;
  }

  private keysOf(endpoint: string): string[] & { base: string } {
    const base = `{${this.prefix}}:webhooks:${hashOf(endpoint)}`;
    const keys = [':msgs', ':ready', ':leased', ':claims', ':attempts'].map((suffix) => base + suffix);
    return Object.assign(keys, { base });
  }

  private async run(source: string, keys: string[], args: (string | number)[]): Promise<unknown> {
    let sha = this.scripts.get(source);
    if (!sha) this.scripts.set(source, (sha = createHash('sha1').update(source).digest('hex')));
    try {
      return await this.client.evalsha(sha, keys.length, ...keys, ...args);
    } catch (error) {
      // NOSCRIPT means nothing ran (a fresh or restarted Redis): sending the source is safe.
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return await this.client.eval(source, keys.length, ...keys, ...args);
    }
  }
}

function pick(message: WebhookMessage): Omit<StoredMessage, 'queuedAt'> {
  return { id: message.id, orderKey: message.orderKey, body: message.body };
}

/** Keys and tokens never carry a topic's or endpoint's own characters. */
function hashOf(text: string): string {
  return createHash('sha256').update(text).digest('base64url').slice(0, 22);
}
