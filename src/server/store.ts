import { MemoryStore } from '../store/memory.js';
import { RedisStore } from '../store/redis.js';
import type { Store } from '../store/types.js';
import type { HubConfig } from './config.js';

type StoreConfig = Pick<HubConfig, 'historySize' | 'historyMaxAgeMs' | 'redisUrl' | 'redisPrefix'>;

/**
 * The store the configuration asks for: Redis when a URL is set (connected and positioned, or a
 * StoreUnavailableError when Redis cannot be reached), otherwise the in-memory ring buffer.
 */
export async function openStore(config: StoreConfig): Promise<Store> {
  const historySize = config.historySize;
  const maxAgeMs = config.historyMaxAgeMs > 0 ? config.historyMaxAgeMs : undefined;
  if (config.redisUrl === undefined) return new MemoryStore({ historySize, maxAgeMs });
  return RedisStore.connect({ url: config.redisUrl, prefix: config.redisPrefix, historySize, maxAgeMs });
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
