import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { createMercureHandler } from 'ssehub/http';
import { blackBoxSuite } from '../helpers/black-box.js';
import type { BlackBoxTarget } from '../helpers/black-box.js';
import { blackBoxFetchApp, blackBoxServerSide } from '../helpers/fetch-hub-app.js';

async function listening(server: Server): Promise<BlackBoxTarget> {
  if (!server.listening) await new Promise<void>((resolve) => server.once('listening', resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

// The Fetch handler on Node, served by @hono/node-server's Request/Response bridge.
blackBoxSuite('Fetch handler on Node', () =>
  listening(serve({ fetch: blackBoxFetchApp(), port: 0, hostname: '127.0.0.1' }) as Server),
);

// The node:http handlers, under the same suite: both adapters share one core (src/http).
blackBoxSuite('node:http handlers', async () => {
  const side = blackBoxServerSide();
  const mercure = createMercureHandler(side.hub, side.handlerOptions);
  const server = createServer((req, res) => {
    if (req.url === '/__stats') return void res.end(JSON.stringify(side.stats()));
    mercure(req, res);
  });
  server.listen(0, '127.0.0.1');
  return listening(server);
});
