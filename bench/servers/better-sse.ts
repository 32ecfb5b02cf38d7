/**
 * Comparator: better-sse on node:http, one channel every session is registered in.
 * GET /sse subscribes; POST /publish broadcasts the body as one event.
 */
import { createServer } from 'node:http';
import { createChannel, createSession } from 'better-sse';
import { readBody, listenAndAnnounce } from './common.js';

const channel = createChannel();
let lastId = 0;

const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url?.startsWith('/sse')) {
    void createSession(req, res).then((session) => channel.register(session));
    return;
  }
  if (req.method === 'POST' && req.url === '/publish') {
    void readBody(req).then((body) => {
      channel.broadcast(body, 'message', { eventId: String(++lastId) });
      res.writeHead(204).end();
    });
    return;
  }
  res.writeHead(404).end();
});

listenAndAnnounce(server);
