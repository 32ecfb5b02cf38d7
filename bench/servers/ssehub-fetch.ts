/**
 * ssehub's Fetch handler (createFetchHandler), GET /sse on topic `bench`, POST /publish through
 * hub.publish. On Node it is served by @hono/node-server, on Bun by Bun.serve, on Deno by
 * Deno.serve. Prints `listening <port>` for the coordinator.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hub } from '../../src/hub/hub.js';
import { createFetchHandler } from '../../src/fetch/index.js';

type FetchApp = (request: Request) => Promise<Response>;
const runtime = globalThis as {
  Bun?: { serve(options: object): { port: number } };
  Deno?: { serve(options: object, app: FetchApp): unknown };
};

const hub = new Hub();
const mercure = createFetchHandler(hub);
const port = Number(process.argv[2] ?? 0);

const app: FetchApp = async (request) => {
  const url = new URL(request.url);
  if (request.method === 'GET' && url.pathname === '/sse') {
    // Headers only: the stream's cancel tells the hub the client left (and Deno warns when a copied signal aborts).
    return mercure(
      new Request(new URL('/.well-known/mercure?topic=bench', url), { headers: request.headers }),
    );
  }
  if (request.method === 'POST' && url.pathname === '/publish') {
    await hub.publish({ topics: ['bench'], data: await request.text() });
    return new Response(null, { status: 204 });
  }
  return new Response(null, { status: 404 });
};

const listening = (actual: number): void => void process.stdout.write(`listening ${actual}\n`);
if (runtime.Bun) {
  listening(runtime.Bun.serve({ port, hostname: '127.0.0.1', idleTimeout: 0, fetch: app }).port);
} else if (runtime.Deno) {
  runtime.Deno.serve(
    { port, hostname: '127.0.0.1', onListen: (address: AddressInfo) => listening(address.port) },
    app,
  );
} else {
  const server = serve({ fetch: app, port, hostname: '127.0.0.1' }) as Server;
  server.once('listening', () => listening((server.address() as AddressInfo).port));
}
process.on('SIGTERM', () => process.exit(0));
