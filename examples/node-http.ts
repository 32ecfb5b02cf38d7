// Mount ssehub in a plain node:http server, next to your own routes.
import { createServer } from 'node:http';
import { Hub, MemoryStore } from 'ssehub';
import { createMercureHandler } from 'ssehub/http';
import type { MercureHandlerOptions } from 'ssehub/http';

export function createApp(
  hub = new Hub({ store: new MemoryStore({ historySize: 10_000 }) }),
  options: MercureHandlerOptions = {}, // authorizer, CORS origins, limits
) {
  const mercure = createMercureHandler(hub, options);

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/.well-known/mercure') return mercure(req, res);
    if (req.method === 'POST' && path === '/orders') {
      // Your own code publishes too; the promise resolves once the event is stored.
      hub
        .publish({ topics: ['https://example.com/orders'], data: JSON.stringify({ status: 'created' }) })
        .then(
          (event) => res.writeHead(201, { 'Content-Type': 'text/plain' }).end(event.id),
          () => res.writeHead(503).end(),
        );
      return;
    }
    res.writeHead(404).end();
  });
  return { server, hub };
}
