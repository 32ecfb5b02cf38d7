import { MemoryStore } from '../store/memory.js';
import { RedisStore } from '../store/redis.js';
import type { Store } from '../store/types.js';
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
