/**
 * ssehub's node:http handlers as a library user mounts them (createMercureHandler), GET /sse on
 * topic `bench`, POST /publish through hub.publish: the node:http row beside ssehub-fetch.
 */
import { createServer } from 'node:http';
import { Hub } from '../../src/hub/hub.js';
import { createMercureHandler } from '../../src/http/index.js';
import { readBody, listenAndAnnounce } from './common.js';

const hub = new Hub();
const mercure = createMercureHandler(hub);

const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url?.startsWith('/sse')) {
    req.url = '/.well-known/mercure?topic=bench';
    return mercure(req, res);
  }
  if (req.method === 'POST' && req.url === '/publish') {
    void readBody(req)
      .then((data) => hub.publish({ topics: ['bench'], data }))
      .then(() => res.writeHead(204).end());
    return;
  }
  res.writeHead(404).end();
});

listenAndAnnounce(server);
