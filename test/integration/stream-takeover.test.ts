import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import net from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { Hub } from '../../src/hub/hub.js';
import { createSubscribeHandler } from '../../src/http/subscribe.js';
import { MemoryStore } from '../../src/store/memory.js';
import { delay, openStream, publish, startTestHub, topicUrl } from '../helpers/hub.js';
import type { TestHub } from '../helpers/hub.js';

// Once an event stream's head is out, its socket is taken away from node:http so that the request,
// the response and the HTTP parser are not kept for the stream's life (see src/http/stream-socket.ts).
// These tests fail if that stops happening, e.g. on a Node whose internals moved.

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** Whether every referent is collected, after a few full collections. */
async function collected(refs: WeakRef<object>[]): Promise<boolean> {
  for (let attempt = 0; attempt < 20; attempt++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
    if (refs.every((ref) => ref.deref() === undefined)) return true;
  }
  return false;
}

let server: Server | undefined;
let hub: Hub | undefined;
let testHub: TestHub | undefined;
afterEach(async () => {
  await hub?.close();
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await testHub?.close(1000);
  server = undefined;
  hub = undefined;
  testHub = undefined;
});

interface Mounted {
  url: string;
  hub: Hub;
  requests: WeakRef<object>[];
  sockets: net.Socket[];
}

async function mountSubscribeHandler(
  before?: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<Mounted> {
  hub = new Hub({ store: new MemoryStore() });
  // Every subscriber is "alice", so a test can end streams with disconnectSubject.
  const handler = createSubscribeHandler(hub, {
    authorizer: {
      authorizeSubscriber: () => Promise.resolve({ subject: 'alice' }),
      authorizePublisher: () => Promise.resolve(),
    },
  });
  const requests: WeakRef<object>[] = [];
  const sockets: net.Socket[] = [];
  server = createServer((req, res) => {
    requests.push(new WeakRef(req), new WeakRef(res));
    before?.(req, res);
    handler(req, res);
  });
  server.on('connection', (socket: net.Socket) => sockets.push(socket));
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return { url: `http://127.0.0.1:${port}/.well-known/mercure?topic=t`, hub, requests, sockets };
}

describe('event stream socket takeover', () => {
  it('an open stream keeps neither its request, its response nor an HTTP parser, and still delivers', async () => {
    const mounted = await mountSubscribeHandler();
    const streams = await Promise.all([1, 2, 3].map(() => openStream(mounted.url)));
    await mounted.hub.publish({ topics: ['t'], data: 'before' });
    for (const stream of streams) await stream.waitFor(() => stream.events.length === 1);

    expect(await collected(mounted.requests)).toBe(true);
    for (const socket of mounted.sockets) {
      expect((socket as unknown as { parser: unknown }).parser).toBeNull();
      expect(socket.listenerCount('data')).toBe(1);
    }

    await mounted.hub.publish({ topics: ['t'], data: 'after' });
    for (const stream of streams) {
      await stream.waitFor(() => stream.events.length === 2);
      expect(stream.events.map((event) => event.data)).toEqual(['before', 'after']);
    }
    expect(mounted.hub.stats().subscribers).toBe(3);
    streams[0]?.destroy();
    await waitUntil(() => mounted.hub.stats().subscribers === 2);
    for (const stream of streams.slice(1)) stream.destroy();
    await waitUntil(() => mounted.hub.stats().subscribers === 0);
  });

  it('a stream ends with the last chunk and the connection closes; the subscriber is released', async () => {
    const mounted = await mountSubscribeHandler();
    const stream = await openStream(mounted.url);
    await mounted.hub.publish({ topics: ['t'], data: 'one' });
    await stream.waitFor(() => stream.events.length === 1);
    await mounted.hub.close();
    await stream.closed;
    expect(stream.response.complete).toBe(true);
    expect(mounted.hub.stats().subscribers).toBe(0);
  });

  it('when a stream ends, its connection goes back to the server and answers the next request', async () => {
    let heard = 0;
    const mounted = await mountSubscribeHandler((_req, res) => res.on('close', () => heard++));
    const { port } = server?.address() as net.AddressInfo;
    const socket = net.connect({ host: '127.0.0.1', port });
    let received = '';
    socket.setEncoding('latin1');
    socket.on('data', (text: string) => (received += text));
    const request = 'GET /.well-known/mercure?topic=t HTTP/1.1\r\nHost: x\r\n\r\n';
    socket.write(request);
    await waitUntil(() => mounted.hub.stats().subscribers === 1);
    await mounted.hub.publish({ topics: ['t'], data: 'one' });
    await waitUntil(() => received.includes('data: one'));
    expect((mounted.sockets[0] as unknown as { parser: unknown }).parser).toBeNull();

    expect(mounted.hub.disconnectSubject('alice')).toBe(1);
    await waitUntil(() => received.endsWith('\r\n0\r\n\r\n'));
    expect(heard).toBe(1);
    socket.write(request);
    await waitUntil(() => received.split('HTTP/1.1 200 OK').length === 3);
    await waitUntil(() => mounted.hub.stats().subscribers === 1);
    // The same connection, handed back to the server (which emits it as a connection again).
    expect(new Set(mounted.sockets).size).toBe(1);
    await mounted.hub.publish({ topics: ['t'], data: 'two' });
    await waitUntil(() => received.includes('data: two'));
    socket.destroy();
    await waitUntil(() => mounted.hub.stats().subscribers === 0 && heard === 2);
  });

  it('a client that sends anything more on a stream connection, or half-closes it, is disconnected', async () => {
    const mounted = await mountSubscribeHandler();
    const { port } = server?.address() as net.AddressInfo;
    for (const misbehave of [
      (socket: net.Socket) => socket.write('GET /other HTTP/1.1\r\nHost: x\r\n\r\n'),
      (socket: net.Socket) => socket.end(),
    ]) {
      const socket = net.connect({ host: '127.0.0.1', port });
      let received = '';
      socket.setEncoding('latin1');
      socket.on('data', (text: string) => (received += text));
      const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
      socket.write('GET /.well-known/mercure?topic=t HTTP/1.1\r\nHost: x\r\n\r\n');
      await waitUntil(() => received.includes('\r\n\r\n'));
      await waitUntil(() => mounted.hub.stats().subscribers === 1);
      misbehave(socket);
      await closed;
      expect(received).toMatch(/^HTTP\/1\.1 200 OK/);
      expect(received).not.toContain('/other');
      await waitUntil(() => mounted.hub.stats().subscribers === 0);
    }
  });

  it("a response 'close' listener of the application still hears the stream's connection close", async () => {
    let heard = 0;
    const mounted = await mountSubscribeHandler((_req, res) => res.on('close', () => heard++));
    const stream = await openStream(mounted.url);
    await mounted.hub.publish({ topics: ['t'], data: 'one' });
    await stream.waitFor(() => stream.events.length === 1);
    expect((mounted.sockets[0] as unknown as { parser: unknown }).parser).toBeNull();
    stream.destroy();
    await waitUntil(() => heard === 1);
    expect(mounted.hub.stats().subscribers).toBe(0);
  });

  it('the standalone hub (request ids, logs, connection tracking) keeps neither request nor response', async () => {
    testHub = await startTestHub();
    const refs: WeakRef<object>[] = [];
    testHub.server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
      refs.push(new WeakRef(req), new WeakRef(res));
    });
    const url = topicUrl(testHub.hubUrl, ['t']);
    const streams = await Promise.all([1, 2].map(() => openStream(url)));
    // Published over HTTP: that request's own objects must go too.
    expect((await publish(testHub.hubUrl, { topic: 't', data: 'one' })).status).toBe(200);
    for (const stream of streams) await stream.waitFor(() => stream.events.length === 1);
    expect(refs.length).toBe(6);
    expect(await collected(refs)).toBe(true);
    expect((await publish(testHub.hubUrl, { topic: 't', data: 'two' })).status).toBe(200);
    for (const stream of streams) await stream.waitFor(() => stream.events.length === 2);
  });
});

async function waitUntil(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for condition');
    await delay(5);
  }
}
