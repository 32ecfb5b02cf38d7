import { MemoryStore } from '../store/memory.js';
import { RedisStore } from '../store/redis.js';
import type { Store } from '../store/types.js';
import type { WebhookQueue } from '../store/webhook-queue.js';
import type { HubConfig } from './config.js';

type StoreConfig = Pick<
  HubConfig,
  | 'historySize'
  | 'historyMaxAgeMs'
  | 'historyPerTopic'
  | 'redisUrl'
  | 'redisPrefix'
  | 'store'
  | 'dataDir'
  | 'sync'
>;

/**
 * The store the configuration asks for: Redis when a URL is set (connected and positioned, or a
 * StoreUnavailableError when Redis cannot be reached), otherwise the embedded store `store` names:
 * the SQLite file in `dataDir` (a StoreOpenError when it cannot be used) or the in-memory ring buffer.
 */
export async function openStore(config: StoreConfig): Promise<Store> {
  const historySize = config.historySize;
  const maxAgeMs = config.historyMaxAgeMs > 0 ? config.historyMaxAgeMs : undefined;
  if (config.redisUrl !== undefined) {
    return RedisStore.connect({ url: config.redisUrl, prefix: config.redisPrefix, historySize, maxAgeMs });
  }
  if (config.store === 'memory') return new MemoryStore({ historySize, maxAgeMs });
  // Loaded only here, so a hub on another store never loads the native SQLite module.
  const { SqliteStore } = await import('../store/sqlite/store.js');
  return SqliteStore.open({
    dataDir: config.dataDir,
    sync: config.sync,
    historySize,
    maxAgeMs,
    historyPerTopic: config.historyPerTopic > 0 ? config.historyPerTopic : undefined,
  });
}

/**
 * The webhook queue beside the configured store, so pending messages survive as long as history
 * does: in Redis (shared by the hubs sharing the prefix), in `webhooks.sqlite` in the data
 * directory, or undefined for the memory store (the server's default queue, in memory).
 */
export async function openWebhookQueue(
  config: StoreConfig & Pick<HubConfig, 'webhooks'>,
): Promise<WebhookQueue | undefined> {
  if (!config.webhooks) return undefined;
  const limits = { maxQueued: config.webhooks.maxQueued };
  if (config.redisUrl !== undefined) {
    const { RedisWebhookQueue } = await import('../store/redis-webhook-queue.js');
    return new RedisWebhookQueue({ url: config.redisUrl, prefix: config.redisPrefix, ...limits });
  }
  if (config.store === 'memory') return undefined;
  const { SqliteWebhookQueue } = await import('../store/sqlite/webhook-queue.js');
  return SqliteWebhookQueue.open({ dataDir: config.dataDir, ...limits });
}

/** The URL without its password, for logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable URL)';
  }
}
