// Mount ssehub in a Hono app, on any runtime: the Fetch handler answers Hono's raw Request.
// Node: serve({ fetch: app.fetch, port: 3000 }) from '@hono/node-server'. Bun: Bun.serve({ fetch: app.fetch }).
import { Hono } from 'hono';
import { Hub } from 'ssehub';
import { createFetchHandler } from 'ssehub/fetch';
import type { FetchHandlerOptions } from 'ssehub/fetch';

export function createApp(hub = new Hub(), options: FetchHandlerOptions = {}) {
  const mercure = createFetchHandler(hub, options);
  const app = new Hono();
  app.all('/.well-known/mercure', (c) => mercure(c.req.raw));
  app.post('/orders', async (c) => {
    const event = await hub.publish({ topics: ['https://example.com/orders'], data: '{"status":"created"}' });
    return c.text(event.id, 201);
  });
  return { app, hub };
}
