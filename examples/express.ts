// Mount ssehub in an Express app. The handler is a plain (req, res) function: GET subscribes, POST
// publishes, OPTIONS answers CORS preflights.
import express from 'express';
import { Hub } from 'ssehub';
import { createMercureHandler } from 'ssehub/http';
import type { MercureHandlerOptions } from 'ssehub/http';

export function createApp(hub = new Hub(), options: MercureHandlerOptions = {}) {
  const app = express();
  // Works with or without express.urlencoded() in front of it.
  app.all(
    '/.well-known/mercure',
    express.urlencoded({ extended: false }),
    createMercureHandler(hub, options),
  );
  app.post('/orders', async (_req, res) => {
    const event = await hub.publish({ topics: ['https://example.com/orders'], data: '{"status":"created"}' });
    res.status(201).send(event.id);
  });
  return { app, hub };
}
