// Prometheus metrics for a hub mounted in your own node:http server.
import { createServer } from 'node:http';
import { Hub, MemoryStore } from 'ssehub';
import { createMercureHandler } from 'ssehub/http';
import { HubMetrics } from 'ssehub/server';

export function createApp() {
  const metrics = new HubMetrics();
  const hub = new Hub({ store: new MemoryStore(), observer: metrics.observer });
  const mercure = createMercureHandler(hub);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/.well-known/mercure') return mercure(req, res);
    if (path === '/metrics') {
      metrics.render().then(
        (text) => res.writeHead(200, { 'Content-Type': metrics.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
      return;
    }
    res.writeHead(404).end();
  });
  let connections = 0;
  server.on('connection', (socket) => {
    connections++;
    socket.once('close', () => connections--);
  });
  // Gauges are read at scrape time from these.
  metrics.bind({
    connections: () => connections,
    subscriptions: () => hub.stats().subscribers,
    ready: () => hub.store.isReady(),
  });
  return { server, hub };
}
