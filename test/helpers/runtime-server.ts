// Serves the black-box app (test/helpers/fetch-hub-app.ts) on the runtime running it: Bun.serve on
// Bun, Deno.serve on Deno; with SERVE=node-http, node:http's createServer instead (the node:http
// handlers, whose socket takeover a runtime without Node's internals must do without). With
// EXAMPLE=hono or deno, the app is that example's (examples/). With REDIS_URL the hub's store is
// Redis. Prints `listening <port>` once it accepts connections.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createMercureHandler } from 'ssehub/http';
import { RedisStore } from 'ssehub/redis';
import { createFetchHandler } from 'ssehub/fetch';
import { blackBoxServerSide, withStats } from './fetch-hub-app.js';

type FetchApp = (request: Request) => Promise<Response>;
interface BunRuntime {
  serve(options: { port: number; hostname: string; idleTimeout: number; fetch: FetchApp }): { port: number };
}
interface DenoRuntime {
  serve(
    options: { port: number; hostname: string; onListen(address: { port: number }): void },
    app: FetchApp,
  ): unknown;
}
const runtime = globalThis as { Bun?: BunRuntime; Deno?: DenoRuntime };

const redisUrl = process.env.REDIS_URL;
const side = blackBoxServerSide(redisUrl ? await RedisStore.connect({ url: redisUrl }) : undefined);
const listening = (port: number): void => console.log(`listening ${port}`);

async function fetchApp(): Promise<FetchApp> {
  switch (process.env.EXAMPLE) {
    case 'hono': {
      const { createApp } = await import('../../examples/hono.js');
      const { app } = createApp(side.hub, side.handlerOptions);
      return withStats(side, (request) => app.fetch(request));
    }
    case 'deno': {
      const { createHandler } = await import('../../examples/deno.js');
      return withStats(side, createHandler(side.hub, side.handlerOptions));
    }
    default:
      return withStats(side, createFetchHandler(side.hub, side.handlerOptions));
  }
}

if (process.env.SERVE === 'node-http') {
  const mercure = createMercureHandler(side.hub, side.handlerOptions);
  const server = createServer((req, res) => {
    if (req.url === '/__stats') return void res.end(JSON.stringify(side.stats()));
    mercure(req, res);
  });
  server.listen(0, '127.0.0.1', () => listening((server.address() as AddressInfo).port));
} else if (runtime.Bun) {
  // idleTimeout 0: a stream may be quiet for longer than Bun's default 10 s (heartbeats aside).
  const server = runtime.Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    idleTimeout: 0,
    fetch: await fetchApp(),
  });
  listening(server.port);
} else if (runtime.Deno) {
  runtime.Deno.serve(
    { port: 0, hostname: '127.0.0.1', onListen: ({ port }) => listening(port) },
    await fetchApp(),
  );
} else {
  throw new Error('runtime-server: run me with Bun or Deno (or SERVE=node-http)');
}
