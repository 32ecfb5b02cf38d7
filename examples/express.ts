// Mount ssehub in an Express app. The handlers are plain (req, res) functions.
import express from 'express';
import { Hub } from 'ssehub';
import { createPublishHandler, createSubscribeHandler } from 'ssehub/http';

export function createApp() {
  const hub = new Hub(); // in-memory store, 10,000 events of history
  const app = express();
  app.get('/.well-known/mercure', createSubscribeHandler(hub));
  // Works with or without express.urlencoded() in front of it.
  app.post('/.well-known/mercure', express.urlencoded({ extended: false }), createPublishHandler(hub));
  app.post('/orders', async (_req, res) => {
    const event = await hub.publish({ topics: ['https://example.com/orders'], data: '{"status":"created"}' });
    res.status(201).send(event.id);
  });
  return { app, hub };
}
