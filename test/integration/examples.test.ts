import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { afterEach, describe, expect, it } from 'vitest';
import { createApp as createNodeApp } from '../../examples/node-http.js';
import { createApp as createExpressApp } from '../../examples/express.js';
import { createApp as createHonoApp } from '../../examples/hono.js';
import { createHubWithWebhooks } from '../../examples/webhooks.js';
import { configureHub } from '../../examples/nextjs/lib/mercure.js';
import * as nextHubRoute from '../../examples/nextjs/app/.well-known/mercure/route.js';
import * as nextDisconnectRoute from '../../examples/nextjs/app/.well-known/mercure/disconnect/route.js';
import { blackBoxSuite } from '../helpers/black-box.js';
import type { BlackBoxTarget } from '../helpers/black-box.js';
import { blackBoxServerSide } from '../helpers/fetch-hub-app.js';
import { openStream, publish, rawRequest, topicUrl } from '../helpers/hub.js';
import { runtimeAvailable, startOnRuntime } from '../helpers/runtimes.js';
import { TempDirs } from '../helpers/data-dir.js';
import { MemorySink } from '../helpers/memory-sink.js';
import { eventually } from '../helpers/wait.js';
import { WebhookReceiver, bodyOf, newSecret, verifyWebhook } from '../helpers/webhook-receiver.js';
import type { Runtime } from '../helpers/runtimes.js';

let server: Server | undefined;
afterEach(async () => {
  const running = server;
  server = undefined;
  if (running) await closeServer(running);
});

async function closeServer(running: Server): Promise<void> {
  running.closeAllConnections();
  await new Promise((resolve) => running.close(resolve));
}

async function listen(app: Server): Promise<string> {
  server = app;
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
}

/** A listening server as a black-box target; `stats` asks the hub itself. */
async function target(app: Server, side: ReturnType<typeof blackBoxServerSide>): Promise<BlackBoxTarget> {
  if (!app.listening) await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  return {
    base: `http://127.0.0.1:${(app.address() as AddressInfo).port}`,
    stats: () => Promise.resolve(side.stats()),
    close: () => closeServer(app),
  };
}

async function exercise(base: string): Promise<void> {
  const hubUrl = `${base}/.well-known/mercure`;
  const stream = await openStream(topicUrl(hubUrl, ['https://example.com/orders']));
  const published = await publish(hubUrl, { topic: 'https://example.com/orders', data: 'via form' });
  expect(published.status).toBe(200);
  const fromAppCode = await rawRequest(`${base}/orders`, { method: 'POST' });
  expect(fromAppCode.status).toBe(201);
  await stream.waitFor(() => stream.events.length === 2);
  expect(stream.events.map((e) => e.lastEventId)).toEqual([published.body, fromAppCode.body]);
  expect(stream.events[1]?.data).toBe('{"status":"created"}');
  stream.destroy();
}

/** The Fastify example (fastify is a devDependency, so `npm install` is all it needs). */
function fastifyExample(): Promise<typeof import('../../examples/fastify/app.js')> {
  return import('../../examples/fastify/app.js');
}

/**
 * The Next.js route modules, called as Next calls them: the exported function of the request's
 * method, by path (Next itself is not run: its install and build would cost minutes).
 */
function nextRoutes(request: Request): Promise<Response> {
  const routes: Record<string, Record<string, unknown>> = {
    '/.well-known/mercure': nextHubRoute,
    '/.well-known/mercure/disconnect': nextDisconnectRoute,
  };
  const route = routes[new URL(request.url).pathname];
  if (route === undefined) return Promise.resolve(new Response('Not found\n', { status: 404 }));
  const handler = route[request.method];
  if (typeof handler !== 'function') return Promise.resolve(new Response(null, { status: 405 }));
  return (handler as (request: Request) => Promise<Response>)(request);
}

describe('README examples', () => {
  it('node:http example serves subscribe, publish and application publishes', async () => {
    const { server: app } = createNodeApp();
    await exercise(await listen(app));
  });

  it('Express example serves subscribe, publish (through express.urlencoded) and application publishes', async () => {
    const { app } = createExpressApp();
    await exercise(await listen(createServer(app)));
  });

  it('Hono example on Node serves subscribe, publish and application publishes', async () => {
    const { app } = createHonoApp();
    await exercise(await listen(serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server));
  });

  it('Fastify example serves subscribe, publish and application publishes', async () => {
    const { app } = (await fastifyExample()).createApp();
    await app.listen({ port: 0, host: '127.0.0.1' });
    server = app.server;
    await exercise(`http://127.0.0.1:${(app.server.address() as AddressInfo).port}`);
  });

  it('webhooks example sends a signed topic.occupied to a real receiver, queued in the data directory', async () => {
    const dirs = new TempDirs();
    const receiver = await WebhookReceiver.start();
    const secret = newSecret();
    const { hub, webhooks, close } = createHubWithWebhooks(
      dirs.make('webhooks-example'),
      receiver.url,
      secret,
    );
    try {
      expect(webhooks.endpoints).toHaveLength(1);
      await hub.subscribe({ topics: ['https://example.com/rooms/1'], sink: new MemorySink() });
      await eventually(() => receiver.delivered.length === 1, 10_000, 'topic.occupied delivered');
      const [request] = receiver.delivered;
      expect(verifyWebhook(secret, request!.headers, request!.body)).toBeUndefined();
      expect(bodyOf(request!)).toMatchObject({
        type: 'topic.occupied',
        data: { topic: 'https://example.com/rooms/1' },
      });
      await eventually(async () => (await webhooks.depth(webhooks.endpoints[0]!)) === 0, 5000, 'acked');
    } finally {
      await close();
      await receiver.stop();
      dirs.removeAll();
    }
  });

  it('the README shows the examples exactly as tested', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    for (const file of [
      'node-http.ts',
      'express.ts',
      'hono.ts',
      'deno.ts',
      'webhooks.ts',
      'fastify/app.ts',
      'nextjs/lib/mercure.ts',
      'nextjs/app/.well-known/mercure/route.ts',
    ]) {
      const source = readFileSync(new URL(`../../examples/${file}`, import.meta.url), 'utf8').trim();
      expect(readme, file).toContain(source);
    }
  });
});

// Every framework example under the same black-box suite, configured as test/helpers/fetch-hub-app.ts says.
blackBoxSuite('node:http example', () => {
  const side = blackBoxServerSide();
  return target(createNodeApp(side.hub, side.handlerOptions).server, side);
});
blackBoxSuite('Express example', () => {
  const side = blackBoxServerSide();
  return target(createServer(createExpressApp(side.hub, side.handlerOptions).app), side);
});
blackBoxSuite('Fastify example (reply.hijack())', async () => {
  const side = blackBoxServerSide();
  const { app } = (await fastifyExample()).createApp(side.hub, side.handlerOptions);
  await app.listen({ port: 0, host: '127.0.0.1' });
  return target(app.server, side);
});
blackBoxSuite('Hono example on Node (@hono/node-server)', () => {
  const side = blackBoxServerSide();
  const { app } = createHonoApp(side.hub, side.handlerOptions);
  return target(serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server, side);
});
blackBoxSuite('Next.js route handlers (the route modules, called by method and path)', () => {
  const side = blackBoxServerSide();
  configureHub(side.hub, side.handlerOptions);
  return target(serve({ fetch: nextRoutes, port: 0, hostname: '127.0.0.1' }) as Server, side);
});

const ON_RUNTIME: [string, Runtime, string][] = [
  ['Hono example on Bun', 'bun', 'hono'],
  ['Deno example (Deno.serve)', 'deno', 'deno'],
];
for (const [name, runtime, example] of ON_RUNTIME) {
  describe.runIf(runtimeAvailable(runtime, name))(name, () => {
    blackBoxSuite(name, async () => {
      const running = await startOnRuntime(
        runtime,
        'test/helpers/runtime-server.ts',
        { EXAMPLE: example },
        /listening (\d+)/,
      );
      return { base: `http://127.0.0.1:${running.match[1]}`, close: running.stop };
    });
  });
}
