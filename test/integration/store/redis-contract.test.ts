import { afterAll, beforeAll, describe } from 'vitest';
import { RedisStore } from '../../../src/store/redis.js';
import type { StoredEvent } from '../../../src/store/types.js';
import { RedisServer, redisAvailable } from '../../helpers/redis.js';
import { describeStoreContract } from '../../helpers/store-contract.js';

describe.runIf(redisAvailable('RedisStore contract'))('RedisStore on a real redis-server', () => {
  let server: RedisServer;
  let namespace = 0;
  beforeAll(async () => {
    server = await RedisServer.start();
  });
  afterAll(async () => {
    await server?.destroy();
  });

  describeStoreContract({
    name: 'RedisStore',
    // Each store gets its own key prefix: a fresh, empty stream on the shared server.
    create: (options) =>
      RedisStore.connect({ url: server.url, prefix: `contract-${++namespace}`, ...options }),
    idNewerThan: (newest: StoredEvent) => `${Number(newest.cursor.split('-')[0]) + 60_000}-0`,
  });
});
