/**
 * ssehub's Hub core behind the thinnest node:http glue (GET /sse on topic `bench`, POST /publish),
 * used until the standalone hub's CLI is on main and to measure the core apart from src/http.
 */
import { createServer } from 'node:http';
import { Hub } from '../../src/hub/hub.js';
import type { SubscriberSink } from '../../src/hub/subscriber.js';
import { readBody, listenAndAnnounce } from './common.js';

const hub = new Hub();
const topics = ['bench'];

const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url?.startsWith('/sse')) {
    const socket = res.socket;
    const sink: SubscriberSink = {
      write: (chunk) => void res.write(chunk),
      cork: () => socket?.cork(),
      uncork: () => socket?.uncork(),
      get bufferedBytes() {
        return res.writableLength;
      },
      end: () => res.end(),
      destroy: () => res.destroy(),
    };
    void hub
      .subscribe({
        topics,
        sink,
        onStart: (start) => {
          res.writeHead(200, {
            'content-type': 'text/event-stream',
            'cache-control': 'no-cache',
            'last-event-id': start.startAfter,
          });
        },
      })
      .then((subscription) => res.on('close', () => subscription.close()));
    return;
  }
  if (req.method === 'POST' && req.url === '/publish') {
    void readBody(req)
      .then((data) => hub.publish({ topics, data }))
      .then(() => res.writeHead(204).end());
    return;
  }
  res.writeHead(404).end();
});

listenAndAnnounce(server);
