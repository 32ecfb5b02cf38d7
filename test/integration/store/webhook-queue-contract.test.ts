import { afterAll, beforeAll, describe } from 'vitest';
import { MemoryWebhookQueue } from '../../../src/store/webhook-queue.js';
import { SqliteWebhookQueue } from '../../../src/store/sqlite/webhook-queue.js';
import { RedisWebhookQueue } from '../../../src/store/redis-webhook-queue.js';
import { TempDirs } from '../../helpers/data-dir.js';
import { RedisServer, redisAvailable } from '../../helpers/redis.js';
import { describeWebhookQueueContract } from '../../helpers/webhook-queue-contract.js';

const dirs = new TempDirs();
afterAll(() => dirs.removeAll());

describeWebhookQueueContract({
  name: 'MemoryWebhookQueue',
  create: (limits) => Promise.resolve(new MemoryWebhookQueue(limits)),
});

const sqliteDirs = new WeakMap<object, string>();
describeWebhookQueueContract({
  name: 'SqliteWebhookQueue',
  create: (limits) => {
    const dataDir = dirs.make('webhooks');
    const queue = SqliteWebhookQueue.open({ dataDir, ...limits });
    sqliteDirs.set(queue, dataDir);
    return Promise.resolve(queue);
  },
  reopen: async (queue) => {
    await queue.close();
    return SqliteWebhookQueue.open({ dataDir: sqliteDirs.get(queue) as string });
  },
});

describe.runIf(redisAvailable('RedisWebhookQueue contract'))(
  'RedisWebhookQueue on a real redis-server',
  () => {
    let server: RedisServer;
    let namespace = 0;
    const prefixes = new WeakMap<object, string>();
    beforeAll(async () => {
      server = await RedisServer.start();
    });
    afterAll(async () => {
      await server?.destroy();
    });
    const open = (prefix: string, limits = {}) => {
      const queue = new RedisWebhookQueue({ url: server.url, prefix, ...limits });
      prefixes.set(queue, prefix);
      return queue;
    };

    describeWebhookQueueContract({
      name: 'RedisWebhookQueue',
      create: (limits) => Promise.resolve(open(`webhooks-${++namespace}`, limits)),
      sibling: (queue, limits) => Promise.resolve(open(prefixes.get(queue) as string, limits)),
      reopen: async (queue) => {
        await queue.close();
        return open(prefixes.get(queue) as string);
      },
    });
  },
);
