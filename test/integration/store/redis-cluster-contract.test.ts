import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe } from 'vitest';
import { RedisStore } from '../../../src/store/redis.js';
import { RedisWebhookQueue } from '../../../src/store/redis-webhook-queue.js';
import type { StoredEvent } from '../../../src/store/types.js';
import { RedisServer, redisAvailable } from '../../helpers/redis.js';
import { describeStoreContract } from '../../helpers/store-contract.js';
import { describeWebhookQueueContract } from '../../helpers/webhook-queue-contract.js';
import { eventually } from '../../helpers/wait.js';

// The same contract on Redis Cluster. A one-node cluster holding all 16,384 slots is enough to
// prove the point that matters: Cluster refuses a script or command whose keys span slots
// (CROSSSLOT) however many nodes there are, and every key of one prefix must share one slot.
describe.runIf(redisAvailable('RedisStore contract on Redis Cluster'))('RedisStore on Redis Cluster', () => {
  let server: RedisServer;
  let namespace = 0;
  beforeAll(async () => {
    server = await RedisServer.start({
      // A node that never met another does not know its own address: announce it for CLUSTER SLOTS.
      extraArgs: [
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        'nodes.conf',
        '--cluster-announce-ip',
        '127.0.0.1',
      ],
    });
    const admin = new Redis(server.url, { maxRetriesPerRequest: 1 });
    try {
      await admin.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
      await eventually(
        async () => String(await admin.call('CLUSTER', 'INFO')).includes('cluster_state:ok'),
        10_000,
        'cluster_state:ok',
      );
    } finally {
      admin.disconnect();
    }
  });
  afterAll(async () => {
    await server?.destroy();
  });

  describeStoreContract({
    name: 'RedisStore (Cluster)',
    create: (options) =>
      RedisStore.connect({
        cluster: { nodes: [{ host: '127.0.0.1', port: server.port }] },
        prefix: `cluster-contract-${++namespace}`,
        ...options,
      }),
    idNewerThan: (newest: StoredEvent) => `${Number(newest.cursor.split('-')[0]) + 60_000}-0`,
  });

  // Its scripts build line and seen keys themselves: Cluster runs them only because they share the
  // declared keys' hash slot (the `{prefix}` tag).
  const queuePrefixes = new WeakMap<object, string>();
  const openQueue = (prefix: string, limits = {}) => {
    const redis = new Cluster([{ host: '127.0.0.1', port: server.port }], {
      redisOptions: { maxRetriesPerRequest: 1 },
    });
    const queue = new RedisWebhookQueue({ redis, prefix, ...limits });
    queuePrefixes.set(queue, prefix);
    return queue;
  };
  describeWebhookQueueContract({
    name: 'RedisWebhookQueue (Cluster)',
    create: (limits) => Promise.resolve(openQueue(`cluster-webhooks-${++namespace}`, limits)),
    sibling: (queue, limits) => Promise.resolve(openQueue(queuePrefixes.get(queue) as string, limits)),
    reopen: async (queue) => {
      await queue.close();
      return openQueue(queuePrefixes.get(queue) as string);
    },
  });
});
