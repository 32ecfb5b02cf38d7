import express from 'express';
import type { Express } from 'express';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import net from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { Hub } from '../../src/hub/hub.js';
import { createSubscribeHandler } from '../../src/http/subscribe.js';
import type { SubscribeHandlerOptions } from '../../src/http/subscribe.js';
import { EventStreamParser } from '../../src/protocol/parse.js';
import { MemoryStore } from '../../src/store/memory.js';
import { RedisStore } from '../../src/store/redis.js';
import { delay, openStream, publish, startTestHub, topicUrl } from '../helpers/hub.js';
import type { TestHub } from '../helpers/hub.js';
import { RedisServer, redisAvailable } from '../helpers/redis.js';
import { HS_SECRET, hmacKey, mint, subscriberClaims } from '../helpers/tokens.js';

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

/** `before` sees every request first; returning true means it answered it. */
async function mountSubscribeHandler(
  before?: (req: IncomingMessage, res: ServerResponse) => boolean | void,
  options: SubscribeHandlerOptions = {},
): Promise<Mounted> {
  hub = new Hub({ store: new MemoryStore() });
  // Every subscriber is "alice", so a test can end streams with disconnectSubject.
  const handler = createSubscribeHandler(hub, {
    authorizer: {
      authorizeSubscriber: () => Promise.resolve({ subject: 'alice' }),
      authorizePublisher: () => Promise.resolve(),
    },
    ...options,
  });
  const requests: WeakRef<object>[] = [];
  const sockets: net.Socket[] = [];
  server = createServer((req, res) => {
    if (req.url === '/ping') return void res.end('pong');
    requests.push(new WeakRef(req), new WeakRef(res));
    if (before?.(req, res) === true) return;
    handler(req, res);
  });
  server.on('connection', (socket: net.Socket) => sockets.push(socket));
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return { url: `http://127.0.0.1:${port}/.well-known/mercure?topic=t`, hub, requests, sockets };
}

/** The subscribe handler in an Express app, after what `configure` adds. */
async function mountExpress(
  configure?: (app: Express) => void,
): Promise<{ port: number; hub: Hub; requests: WeakRef<object>[]; sockets: net.Socket[] }> {
  hub = new Hub({ store: new MemoryStore() });
  const handler = createSubscribeHandler(hub, {
    authorizer: {
      authorizeSubscriber: () => Promise.resolve({ subject: 'alice' }),
      authorizePublisher: () => Promise.resolve(),
    },
  });
  const requests: WeakRef<object>[] = [];
  const sockets: net.Socket[] = [];
  const app = express();
  app.use((req, res, next) => {
    requests.push(new WeakRef(req), new WeakRef(res));
    next();
  });
  configure?.(app);
  app.get('/.well-known/mercure', handler);
  server = createServer(app);
  server.on('connection', (socket: net.Socket) => sockets.push(socket));
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as net.AddressInfo).port, hub, requests, sockets };
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

  it('a stream the hub closes ends with its last chunk, complete; the subscriber is released', async () => {
    const mounted = await mountSubscribeHandler();
    const stream = await openStream(mounted.url);
    await mounted.hub.publish({ topics: ['t'], data: 'one' });
    await stream.waitFor(() => stream.events.length === 1);
    await mounted.hub.close();
    await stream.closed;
    expect(stream.response.complete).toBe(true);
    expect(mounted.hub.stats().subscribers).toBe(0);
  });

  it('a stream the hub ends behind a reader that stopped reading: every event once, in order, the last chunk, then the next request is answered', async () => {
    let heard = 0;
    const mounted = await mountSubscribeHandler((_req, res) => void res.on('close', () => heard++));
    const { port } = server?.address() as net.AddressInfo;
    const client = connectRaw(port, STREAM_REQUEST);
    await waitUntil(() => client.text().includes('\r\n\r\n'));
    await waitUntil(() => mounted.hub.stats().subscribers === 1);
    client.socket.pause();
    const serverSocket = mounted.sockets[0] as net.Socket;
    expect((serverSocket as unknown as { parser: unknown }).parser).toBeNull();

    // Until the kernel's buffers are full and the socket holds writes of its own (bounded).
    const published: string[] = [];
    const payload = 'x'.repeat(64 * 1024);
    for (let i = 0; i < 400 && serverSocket.writableLength === 0; i++) {
      published.push((await mounted.hub.publish({ topics: ['t'], data: `${i} ${payload}` })).id);
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(serverSocket.writableLength).toBeGreaterThan(0);
    // Queued for the next flush when the stream ends: written before the last chunk.
    published.push((await mounted.hub.publish({ topics: ['t'], data: 'last' })).id);
    expect(mounted.hub.disconnectSubject('alice')).toBe(1);
    expect(mounted.hub.stats().subscribers).toBe(0);
    expect(heard).toBe(1);

    client.socket.resume();
    await waitUntil(() => dechunk(bodyOf(client.text())).last, 10_000);
    client.socket.write('GET /ping HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitUntil(() => client.text().endsWith('pong'));
    const { chunks, last, rest } = dechunk(bodyOf(client.text()));
    expect(last).toBe(true);
    expect(rest).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\npong$/);
    const ids: string[] = [];
    const parser = new EventStreamParser({ onEvent: (event) => ids.push(event.lastEventId) });
    parser.push(chunks.join(''));
    expect(ids).toEqual(published);
    expect(heard).toBe(1);
    client.socket.destroy();
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

  it("the application's request and response 'close' listeners still hear the stream's connection close, once each", async () => {
    const heard: string[] = [];
    const mounted = await mountSubscribeHandler((req, res) => {
      // The common way to notice a client leaving: on the request.
      req.on('close', () => heard.push('request'));
      res.on('close', () => heard.push('response'));
    });
    const stream = await openStream(mounted.url);
    await mounted.hub.publish({ topics: ['t'], data: 'one' });
    await stream.waitFor(() => stream.events.length === 1);
    expect((mounted.sockets[0] as unknown as { parser: unknown }).parser).toBeNull();
    stream.destroy();
    await waitUntil(() => heard.length === 2 && mounted.hub.stats().subscribers === 0);
    expect(heard).toEqual(['response', 'request']);
  });

  it('the standalone hub (request ids, logs, connection tracking) keeps neither request nor response', async () => {
    // Without the stream lane, which would serve these streams without either (stream-lane.test.ts).
    testHub = await startTestHub({ streamLane: false });
    await expectStandaloneStreamsCollected(testHub);
  });

  it.runIf(redisAvailable('stream takeover on Redis'))(
    'on the Redis store too, the standalone hub keeps neither request nor response',
    async () => {
      const redis = await RedisServer.start();
      try {
        const store = await RedisStore.connect({ url: redis.url, prefix: `takeover-${process.pid}` });
        testHub = await startTestHub({ store, streamLane: false });
        await expectStandaloneStreamsCollected(testHub);
        await testHub.close(1000);
      } finally {
        await redis.destroy();
      }
    },
  );
});

async function expectStandaloneStreamsCollected(started: TestHub): Promise<void> {
  const refs: WeakRef<object>[] = [];
  started.server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    refs.push(new WeakRef(req), new WeakRef(res));
  });
  const url = topicUrl(started.hubUrl, ['t']);
  const streams = await Promise.all([1, 2].map(() => openStream(url)));
  // Published over HTTP: that request's own objects must go too.
  expect((await publish(started.hubUrl, { topic: 't', data: 'one' })).status).toBe(200);
  for (const stream of streams) await stream.waitFor(() => stream.events.length === 1);
  expect(refs.length).toBe(6);
  expect(await collected(refs)).toBe(true);
  expect((await publish(started.hubUrl, { topic: 't', data: 'two' })).status).toBe(200);
  for (const stream of streams) await stream.waitFor(() => stream.events.length === 2);
}

/** A raw HTTP/1.1 client on one connection: every byte received, and whether the server ended it. */
interface RawConnection {
  socket: net.Socket;
  text(): string;
  /** The server closed its side (FIN) or the connection closed. */
  readonly ended: boolean;
  readonly closed: boolean;
}

function connectRaw(port: number, request: string): RawConnection {
  const socket = net.connect({ host: '127.0.0.1', port });
  let received = '';
  let ended = false;
  let closed = false;
  socket.setEncoding('latin1');
  socket.on('data', (text: string) => (received += text));
  socket.on('end', () => (ended = true));
  socket.on('close', () => (closed = true));
  socket.on('error', () => undefined);
  socket.write(request);
  return {
    socket,
    text: () => received,
    get ended() {
      return ended;
    },
    get closed() {
      return closed;
    },
  };
}

const STREAM_REQUEST = 'GET /.well-known/mercure?topic=t HTTP/1.1\r\nHost: x\r\n\r\n';

/** The chunks of a chunked body received so far, whether its last chunk came, and what followed. */
function dechunk(body: string): { chunks: string[]; last: boolean; rest: string } {
  const chunks: string[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = body.indexOf('\r\n', at);
    if (lineEnd < 0) return { chunks, last: false, rest: body.slice(at) };
    const size = parseInt(body.slice(at, lineEnd), 16);
    const end = size === 0 ? lineEnd + 4 : lineEnd + 4 + size;
    if (body.length < end) return { chunks, last: false, rest: body.slice(at) };
    // Framing errors fail the test rather than being read past.
    expect(body.slice(end - 2, end)).toBe('\r\n');
    if (size === 0) return { chunks, last: true, rest: body.slice(end) };
    chunks.push(body.slice(lineEnd + 2, lineEnd + 2 + size));
    at = end;
  }
}

function bodyOf(received: string): string {
  return received.slice(received.indexOf('\r\n\r\n') + 4);
}

/** Listener counts by event: what a connection carries. */
function listenersOf(socket: net.Socket): string[] {
  return socket
    .eventNames()
    .map((name) => `${String(name)}: ${socket.listenerCount(name)}`)
    .sort();
}

function closeServer(target: Server): Promise<void> {
  return new Promise((resolve) => target.close(() => resolve()));
}

describe('event stream socket takeover: attacks and shutdown', () => {
  it('a handed-back connection serves slow requests and further streams, and server.close() after hub.close() completes once it idles past keepAliveTimeout', async () => {
    const mounted = await mountSubscribeHandler((req, res) => {
      if (req.url !== '/slow') return false;
      setTimeout(() => res.end('slow'), 1500);
      return true;
    });
    const target = server as Server;
    // Node gives an idle keep-alive connection this (plus a second): far less than the slow request.
    target.keepAliveTimeout = 100;
    const { port } = target.address() as net.AddressInfo;
    const client = connectRaw(port, STREAM_REQUEST);
    await waitUntil(() => mounted.hub.stats().subscribers === 1);
    const serverSocket = mounted.sockets[0] as net.Socket;
    await waitUntil(() => (serverSocket as unknown as { parser: unknown }).parser === null);
    const listenersWhileTaken = listenersOf(serverSocket);
    expect(mounted.hub.disconnectSubject('alice')).toBe(1);
    await waitUntil(() => dechunk(bodyOf(client.text())).last);

    client.socket.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitUntil(() => client.text().endsWith('slow'), 10_000);
    client.socket.write(STREAM_REQUEST);
    await waitUntil(() => mounted.hub.stats().subscribers === 1);
    await mounted.hub.publish({ topics: ['t'], data: 'one' });
    await waitUntil(() => client.text().includes('data: one'));
    expect(new Set(mounted.sockets).size).toBe(1);
    // Taken again after a hand-back: nothing left behind by the first round.
    expect(listenersOf(serverSocket)).toEqual(listenersWhileTaken);

    // Streams ended first, then the server closed: the client never closes its side.
    await mounted.hub.close();
    let serverClosed = false;
    void closeServer(target).then(() => (serverClosed = true));
    await waitUntil(() => serverClosed && client.closed, 10_000);
    expect(client.text().endsWith('\r\n0\r\n\r\n')).toBe(true);
    server = undefined;
  });

  it('a stream whose head said Connection: close closes its connection when it ends', async () => {
    const mounted = await mountSubscribeHandler();
    const { port } = server?.address() as net.AddressInfo;
    const client = connectRaw(port, STREAM_REQUEST.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n'));
    await waitUntil(() => mounted.hub.stats().subscribers === 1);
    // Counted as a subscriber before its head reaches the client: wait for the bytes themselves.
    await waitUntil(() => client.text().includes('\r\n\r\n'));
    expect(client.text()).toMatch(/\r\nConnection: close\r\n/);
    expect((mounted.sockets[0] as unknown as { parser: unknown }).parser).toBeNull();
    expect(mounted.hub.disconnectSubject('alice')).toBe(1);
    await waitUntil(() => client.ended);
    expect(dechunk(bodyOf(client.text()))).toMatchObject({ last: true, rest: '' });
  });

  it('bytes behind the request: garbage is refused by node:http, a pipelined request keeps the stream on its response; neither keeps the slot', async () => {
    // One stream per subject: a slot left held would refuse the next stream with 429.
    const mounted = await mountSubscribeHandler(undefined, { maxConnectionsPerSubject: 1 });
    const { port } = server?.address() as net.AddressInfo;

    const garbage = connectRaw(port, `${STREAM_REQUEST}\x01\x02 garbage\r\n\r\n`);
    await waitUntil(() => garbage.closed);
    expect(garbage.text()).toMatch(/^HTTP\/1\.1 400 /);

    const pipelined = connectRaw(port, `${STREAM_REQUEST}GET /ping HTTP/1.1\r\nHost: x\r\n\r\n`);
    await waitUntil(() => mounted.hub.stats().subscribers === 1);
    await mounted.hub.publish({ topics: ['t'], data: 'one' });
    await waitUntil(() => pipelined.text().includes('data: one'));
    // Not taken: the request behind it is node:http's to answer once the stream ends.
    expect((mounted.sockets[1] as unknown as { parser: unknown }).parser).not.toBeNull();
    expect(mounted.hub.disconnectSubject('alice')).toBe(1);
    await waitUntil(() => pipelined.text().endsWith('pong'));
    const { last, rest } = dechunk(bodyOf(pipelined.text()));
    expect(last).toBe(true);
    expect(rest).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\npong$/);
    expect(pipelined.ended).toBe(false);

    const again = connectRaw(port, STREAM_REQUEST);
    await waitUntil(() => again.text().includes('\r\n\r\n'));
    expect(again.text()).toMatch(/^HTTP\/1\.1 200 OK/);
    await waitUntil(() => mounted.hub.stats().subscribers === 1);
    pipelined.socket.destroy();
    again.socket.destroy();
  });

  it("under Express: the stream is taken; request and response 'close' listeners run once when it ends or is reset, 'finish' never, and nothing crashes", async () => {
    const heard = { requestClose: 0, close: 0, finish: 0, socketClose: 0 };
    const mounted = await mountExpress((app) =>
      app.use((req, res, next) => {
        req.on('close', () => heard.requestClose++);
        res.on('close', () => heard.close++);
        res.on('finish', () => heard.finish++);
        // As on-finished does: the socket's close, for a response that may never finish.
        res.socket?.once('close', () => heard.socketClose++);
        next();
      }),
    );
    const ended = connectRaw(mounted.port, STREAM_REQUEST);
    await waitUntil(() => mounted.hub.stats().subscribers === 1);
    await mounted.hub.publish({ topics: ['t'], data: 'one' });
    await waitUntil(() => ended.text().includes('data: one'));
    expect((mounted.sockets[0] as unknown as { parser: unknown }).parser).toBeNull();
    expect(mounted.hub.disconnectSubject('alice')).toBe(1);
    await waitUntil(() => dechunk(bodyOf(ended.text())).last);
    expect(heard).toEqual({ requestClose: 1, close: 1, finish: 0, socketClose: 0 });
    // The connection lives on (handed back): the socket's own close comes when the client leaves.
    ended.socket.destroy();
    await waitUntil(() => heard.socketClose === 1);
    expect(heard).toEqual({ requestClose: 1, close: 1, finish: 0, socketClose: 1 });

    // A client that vanishes with a reset: the socket's error must not reach the process.
    const reset = connectRaw(mounted.port, STREAM_REQUEST);
    await waitUntil(() => mounted.hub.stats().subscribers === 1);
    await mounted.hub.publish({ topics: ['t'], data: 'two' });
    await waitUntil(() => reset.text().includes('data: two'));
    reset.socket.resetAndDestroy();
    await waitUntil(() => mounted.hub.stats().subscribers === 0 && heard.socketClose === 2);
    expect(heard).toEqual({ requestClose: 2, close: 2, finish: 0, socketClose: 2 });
  });

  it('a response whose write the application wraps (compression, byte counters) is written through the wrapper to the end; one whose end alone is wrapped (sessions) is still taken', async () => {
    const seen: string[] = [];
    const mounted = await mountSubscribeHandler((req, res) => {
      const end = res.end;
      res.end = function (this: ServerResponse, ...args: unknown[]) {
        seen.push('end');
        return end.apply(this, args as Parameters<typeof end>);
      } as typeof res.end;
      if (!req.url?.includes('wrap=write')) return;
      const write = res.write;
      res.write = function (this: ServerResponse, chunk: unknown, ...rest: unknown[]) {
        seen.push(String(chunk));
        return write.apply(this, [chunk, ...rest] as Parameters<typeof write>);
      } as typeof res.write;
    });
    const { port } = server?.address() as net.AddressInfo;
    const client = connectRaw(port, STREAM_REQUEST.replace('topic=t', 'topic=t&wrap=write'));
    await waitUntil(() => mounted.hub.stats().subscribers === 1);
    for (const data of ['one', 'two']) {
      await mounted.hub.publish({ topics: ['t'], data });
      await waitUntil(() => client.text().includes(`data: ${data}`));
    }
    expect((mounted.sockets[0] as unknown as { parser: unknown }).parser).not.toBeNull();
    expect(mounted.hub.disconnectSubject('alice')).toBe(1);
    await waitUntil(() => dechunk(bodyOf(client.text())).last);
    expect(seen.filter((text) => text.includes('data: ')).length).toBe(2);
    expect(seen.at(-1)).toBe('end');
    client.socket.destroy();

    const sessionLike = connectRaw(port, STREAM_REQUEST);
    await waitUntil(() => mounted.hub.stats().subscribers === 1);
    await mounted.hub.publish({ topics: ['t'], data: 'three' });
    await waitUntil(() => sessionLike.text().includes('data: three'));
    expect((mounted.sockets[1] as unknown as { parser: unknown }).parser).toBeNull();
    sessionLike.socket.destroy();
  });

  it('standalone hub: an expired stream hands its connection back for the next request; at shutdown a reader that stopped reading is cut at the deadline; no connection is left', async () => {
    const started = await startTestHub({
      config: { jwtKey: HS_SECRET, jwtLeewaySeconds: 0, heartbeatMs: 200, demo: false },
    });
    testHub = started;
    const port = Number(new URL(started.url).port);
    const key = hmacKey();
    const streamRequest = async (topic: string, subject: string, expiresIn: number) =>
      `GET /.well-known/mercure?topic=${topic} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${await mint(
        key,
        subscriberClaims([topic], subject),
        { expiresIn },
      )}\r\n\r\n`;
    const streamSockets: net.Socket[] = [];
    started.server.on('connection', (socket: net.Socket) => streamSockets.push(socket));

    const stalled = connectRaw(port, await streamRequest('big', 'bob', 600));
    await waitUntil(() => started.hub.stats().subscribers === 1);
    await waitUntil(() => stalled.text().includes('\r\n\r\n'));
    stalled.socket.pause();
    const expiring = connectRaw(port, await streamRequest('small', 'alice', 2));
    await waitUntil(() => started.hub.stats().subscribers === 2);
    await waitUntil(() => dechunk(bodyOf(expiring.text())).last, 5000);
    expect(expiring.text()).toMatch(/^HTTP\/1\.1 200 OK/);
    expiring.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitUntil(() => /\r\n0\r\n\r\nHTTP\/1\.1 200 OK\r\n[\s\S]*ok/.test(expiring.text()));
    expect(started.status().connections).toBe(2);

    const stalledSocket = streamSockets[0] as net.Socket;
    const payload = 'x'.repeat(64 * 1024);
    for (let i = 0; i < 400 && stalledSocket.writableLength === 0; i++) {
      await started.hub.publish({ topics: ['big'], data: payload });
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(stalledSocket.writableLength).toBeGreaterThan(0);
    const shutdownStarted = Date.now();
    await started.close(300);
    expect(Date.now() - shutdownStarted).toBeLessThan(300 + 2000);
    expect(started.hub.stats().subscribers).toBe(0);
    // Destroyed at the deadline; the socket's close event follows.
    await waitUntil(() => started.status().connections === 0);
    stalled.socket.resume();
    await waitUntil(() => stalled.closed && expiring.closed);
  });

  it('standalone hub: a stream ended during the drain delay hands its connection back, and the drain closes it without waiting for the deadline', async () => {
    const started = await startTestHub({ config: { jwtKey: HS_SECRET, drainDelayMs: 300, demo: false } });
    testHub = started;
    const token = await mint(hmacKey(), subscriberClaims(['t'], 'alice'), { expiresIn: 600 });
    const client = connectRaw(
      Number(new URL(started.url).port),
      STREAM_REQUEST.replace('\r\n\r\n', `\r\nAuthorization: Bearer ${token}\r\n\r\n`),
    );
    await waitUntil(() => started.hub.stats().subscribers === 1);
    const began = Date.now();
    const closing = started.close(10_000);
    expect(started.draining).toBe(true);
    expect(started.server.listening).toBe(true);
    expect(started.hub.disconnectSubject('alice')).toBe(1);
    await waitUntil(() => dechunk(bodyOf(client.text())).last);
    await closing;
    // An idle connection the tracker still counted as busy would be closed only at the deadline.
    expect(Date.now() - began).toBeLessThan(5000);
    await waitUntil(() => client.closed);
  });

  it('standalone hub: a stalled reader that resets its connection while shutdown ends its stream does not crash the process', async () => {
    const started = await startTestHub();
    testHub = started;
    const port = Number(new URL(started.url).port);
    const streamSockets: net.Socket[] = [];
    started.server.on('connection', (socket: net.Socket) => streamSockets.push(socket));
    const stalled = connectRaw(port, STREAM_REQUEST);
    await waitUntil(() => started.hub.stats().subscribers === 1);
    await waitUntil(() => stalled.text().includes('\r\n\r\n'));
    stalled.socket.pause();
    const stalledSocket = streamSockets[0] as net.Socket;
    const payload = 'x'.repeat(64 * 1024);
    for (let i = 0; i < 400 && stalledSocket.writableLength === 0; i++) {
      await started.hub.publish({ topics: ['t'], data: payload });
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(stalledSocket.writableLength).toBeGreaterThan(0);
    const closing = started.close(2000);
    await waitUntil(() => started.hub.stats().subscribers === 0);
    stalled.socket.resetAndDestroy();
    await closing;
    await waitUntil(() => started.status().connections === 0);
  });

  it('under Express, whose app.get() also routes HEAD, a HEAD request is refused with 405 instead of held open without a head', async () => {
    const mounted = await mountExpress();
    const head = connectRaw(mounted.port, STREAM_REQUEST.replace('GET', 'HEAD'));
    await waitUntil(() => head.text().includes('\r\n\r\n'));
    expect(head.text()).toMatch(/^HTTP\/1\.1 405 Method Not Allowed\r\n/);
    expect(head.text()).toMatch(/\r\nAllow: GET\r\n/);
    expect(mounted.hub.stats().subscribers).toBe(0);
    // Nothing held: the same connection subscribes with GET.
    head.socket.write(STREAM_REQUEST);
    await waitUntil(() => mounted.hub.stats().subscribers === 1);
    head.socket.destroy();
  });

  it('under Express, an open stream keeps neither its request nor its response', async () => {
    const mounted = await mountExpress();
    const url = `http://127.0.0.1:${mounted.port}/.well-known/mercure?topic=t`;
    const streams = await Promise.all([1, 2].map(() => openStream(url)));
    await mounted.hub.publish({ topics: ['t'], data: 'one' });
    for (const stream of streams) await stream.waitFor(() => stream.events.length === 1);
    expect(mounted.requests.length).toBe(4);
    expect(await collected(mounted.requests)).toBe(true);
    await mounted.hub.publish({ topics: ['t'], data: 'two' });
    for (const stream of streams) await stream.waitFor(() => stream.events.length === 2);
    for (const stream of streams) stream.destroy();
  });
});

async function waitUntil(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for condition');
    await delay(5);
  }
}
