/**
 * Comparator: the simplest SSE fan-out on node:http, a Set of responses written in a loop.
 * GET /sse subscribes; POST /publish sends the body as one event to everyone.
 */
import { createServer } from 'node:http';
import type { ServerResponse } from 'node:http';
import { readBody, listenAndAnnounce } from './common.js';

const streams = new Set<ServerResponse>();
let lastId = 0;

const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url?.startsWith('/sse')) {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.write(':\n\n');
    streams.add(res);
    res.on('close', () => streams.delete(res));
    return;
  }
  if (req.method === 'POST' && req.url === '/publish') {
    void readBody(req).then((body) => {
      const frame = `id: ${++lastId}\ndata: ${body}\n\n`;
      for (const stream of streams) stream.write(frame);
      res.writeHead(204).end();
    });
    return;
  }
  res.writeHead(404).end();
});

listenAndAnnounce(server);
