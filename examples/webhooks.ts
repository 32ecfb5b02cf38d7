// Webhooks from a hub in your own process: a signed POST to your backend when a topic gains its
// first subscriber or loses its last one.
import { Hub, createWebhooks } from 'ssehub';
import { SqliteStore, SqliteWebhookQueue } from 'ssehub/sqlite'; // or RedisWebhookQueue, 'ssehub/redis'

export function createHubWithWebhooks(dataDir: string, backendUrl: string, secret: string) {
  const hub = new Hub({ store: SqliteStore.open({ dataDir }), presence: true });
  const webhooks = createWebhooks(hub, {
    endpoints: [{ url: backendUrl, secret, events: ['topic.occupied', 'topic.vacant'] }],
    // Default: in memory, lost on exit. This one is webhooks.sqlite beside the history.
    queue: SqliteWebhookQueue.open({ dataDir }),
  });
  // On shutdown, webhooks first: requests in flight are abandoned and stay queued for the next start.
  const close = async () => {
    await webhooks.close();
    await hub.close();
  };
  return { hub, webhooks, close };
}
