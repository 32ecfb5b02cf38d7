// Mount ssehub in Fastify: hand the raw request and response to the node:http handler, after
// reply.hijack() tells Fastify that the handler answers by itself (a stream never ends on its own).
import Fastify from 'fastify';
import { Hub } from 'ssehub';
import { createMercureHandler } from 'ssehub/http';
import type { MercureHandlerOptions } from 'ssehub/http';

export function createApp(hub = new Hub(), options: MercureHandlerOptions = {}) {
  const mercure = createMercureHandler(hub, options);
  const app = Fastify();
  app.register(async (scope) => {
    // The hub reads a publisher's form itself, within its own limits: Fastify leaves the body alone.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, _payload, done) => done(null));
    scope.route({
      method: ['GET', 'POST', 'OPTIONS'],
      url: '/.well-known/mercure',
      handler: (request, reply) => {
        reply.hijack();
        mercure(request.raw, reply.raw);
      },
    });
  });
  app.post('/orders', async (_request, reply) => {
    const event = await hub.publish({ topics: ['https://example.com/orders'], data: '{"status":"created"}' });
    return reply.code(201).send(event.id);
  });
  return { app, hub };
}
