import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Hub } from '../../src/hub/hub.js';
import { createMercureEndpoint } from '../../src/http/mercure.js';
import { ConnectionTracker } from '../../src/ops/connections.js';
import { createHubServer } from '../../src/server/app.js';
import { laneStreams } from '../../src/server/lane-streams.js';
import type { GracefulShutdown } from '../../src/server/shutdown.js';
import { MemoryStore } from '../../src/store/memory.js';
import type { HubServerOptions } from '../../src/server/app.js';
import { startTestHub } from '../helpers/hub.js';
import type { TestHub } from '../helpers/hub.js';
import { HS_SECRET, hmacKey, mint, subscriberClaims } from '../helpers/tokens.js';
import { eventually as waitUntil } from '../helpers/wait.js';

/**
 * The standalone hub's stream lane (src/server/stream-lane.ts, architecture invariant 36): a plain
 * subscription on a new connection is served without node:http's request and response, with the
 * same answer byte for byte (Date and the fresh request id apart) as node:http serves; anything
 * else reaches node:http untouched.
 */

const STREAM = 'GET /.well-known/mercure?topic=t HTTP/1.1\r\nHost: hub.test\r\n\r\n';
const ORIGIN = 'http://app.test';

const hubs: TestHub[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(hubs.splice(0).map((hub) => hub.close(500)));
});

/** A hub, and how many requests node:http served on it (the lane's emit no `request` event). */
async function hubWith(options: HubServerOptions): Promise<TestHub & { nodeRequests: () => number }> {
  const hub = await startTestHub({
    ...options,
    config: { demo: false, corsOrigins: [ORIGIN], jwtKey: HS_SECRET, ...options.config },
  });
  hubs.push(hub);
  let served = 0;
  hub.server.on('request', () => served++);
  return Object.assign(hub, { nodeRequests: () => served });
}

interface Exchange {
  socket: Socket;
  text(): string;
  readonly closed: boolean;
}

/** Sends `parts` on one new connection (each its own write, 20 ms apart) and records the answer. */
function exchange(hub: TestHub, ...parts: string[]): Exchange {
  const socket = connect({ host: '127.0.0.1', port: Number(new URL(hub.url).port) });
  sockets.push(socket);
  let received = '';
  let closed = false;
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  socket.on('error', () => undefined);
  socket.on('close', () => (closed = true));
  socket.once('connect', () => {
    parts.forEach((part, i) => setTimeout(() => socket.write(part), i * 20));
  });
  return {
    socket,
    text: () => received,
    get closed() {
      return closed;
    },
  };
}

/** An answer without what differs between any two answers: the date and a fresh request id. */
function comparable(answer: string): string {
  return answer
    .replace(/\r\nDate: [^\r]*/g, '')
    .replace(/\r\nX-Request-Id: [^\r]*/g, '')
    .split('\r\n\r\n')
    .map((part, i) => (i === 0 ? part.split('\r\n').sort().join('\r\n') : part))
    .join('\r\n\r\n');
}

/** The answers to `request` from a hub with the lane and one without, and who served each. */
async function bothWays(
  request: string[],
  until: (text: string) => boolean,
  options: HubServerOptions = {},
): Promise<{ lane: string; node: string; laneNodeRequests: number }> {
  const laneHub = await hubWith(options);
  const nodeHub = await hubWith({ ...options, streamLane: false });
  const viaLane = exchange(laneHub, ...request);
  const viaNode = exchange(nodeHub, ...request);
  await waitUntil(() => until(viaLane.text()) && until(viaNode.text()), 5000);
  return { lane: viaLane.text(), node: viaNode.text(), laneNodeRequests: laneHub.nodeRequests() };
}

const headEnd = (text: string) => text.includes('\r\n\r\n');
const streamOpened = (text: string) => /\r\n\r\n[0-9a-f]+\r\n:\n/.test(text);
/** A whole answer with a body of Content-Length bytes is in. */
function answered(text: string): boolean {
  const end = text.indexOf('\r\n\r\n');
  const length = /\r\nContent-Length: (\d+)\r\n/i.exec(text.slice(0, end + 2))?.[1];
  return end !== -1 && length !== undefined && text.length - end - 4 >= Number(length);
}

describe('stream lane', () => {
  it('serves a plain subscription without node:http, with the answer node:http gives', async () => {
    const token = await mint(hmacKey(), subscriberClaims(['t'], 'alice'), { expiresIn: 600 });
    const request = STREAM.replace('\r\n\r\n', `\r\nAuthorization: Bearer ${token}\r\n\r\n`);
    const { lane, node, laneNodeRequests } = await bothWays([request], streamOpened);
    expect(laneNodeRequests).toBe(0);
    expect(lane).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(comparable(lane)).toBe(comparable(node));
  });

  it('answers an allowed origin with the same CORS headers and Vary', async () => {
    const token = await mint(hmacKey(), subscriberClaims(['t'], 'alice'), { expiresIn: 600 });
    const request = STREAM.replace(
      '\r\n\r\n',
      `\r\nOrigin: ${ORIGIN}\r\nAuthorization: Bearer ${token}\r\n\r\n`,
    );
    const { lane, node, laneNodeRequests } = await bothWays([request], streamOpened);
    expect(laneNodeRequests).toBe(0);
    expect(lane).toMatch(/\r\nAccess-Control-Allow-Origin: http:\/\/app\.test\r\n/);
    expect(lane).toMatch(/\r\nVary: Origin\r\n/);
    expect(comparable(lane)).toBe(comparable(node));
  });

  it.each([
    ['no token', STREAM],
    ['a bad token', STREAM.replace('\r\n\r\n', '\r\nAuthorization: Bearer nope\r\n\r\n')],
    ['no topic', 'GET /.well-known/mercure HTTP/1.1\r\nHost: hub.test\r\n\r\n'],
    ['a bad rewind', 'GET /.well-known/mercure?topic=t&rewind=x HTTP/1.1\r\nHost: hub.test\r\n\r\n'],
  ])(
    'refuses a subscription with %s as node:http does, and the connection serves the next request',
    async (_, request) => {
      const { lane, node, laneNodeRequests } = await bothWays([request], answered);
      expect(laneNodeRequests).toBe(0);
      expect(lane).toMatch(/^HTTP\/1\.1 4\d\d /);
      expect(comparable(lane)).toBe(comparable(node));
    },
  );

  it('keeps the connection after a refusal: the next request on it is served by node:http', async () => {
    const hub = await hubWith({});
    const client = exchange(hub, STREAM);
    await waitUntil(() => answered(client.text()));
    expect(client.text()).toMatch(/^HTTP\/1\.1 401 /);
    client.socket.write('GET /healthz HTTP/1.1\r\nHost: hub.test\r\n\r\n');
    await waitUntil(() => client.text().includes('ok: process alive'));
    expect(client.closed).toBe(false);
    expect(hub.nodeRequests()).toBe(1);
  });

  it('releases the admission slot of a stream refused after its connection was admitted', async () => {
    const hub = await hubWith({ config: { jwtKey: undefined, maxConnections: 1, maxRewind: 10 } });
    // Past maxRewind: refused by the hub itself, once the stream's slot is already held.
    const refused = exchange(hub, STREAM.replace('topic=t', 'topic=t&rewind=11'));
    await waitUntil(() => answered(refused.text()));
    expect(refused.text()).toMatch(/^HTTP\/1\.1 400 /);
    const stream = exchange(hub, STREAM);
    await waitUntil(() => headEnd(stream.text()));
    expect(stream.text()).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
  });

  it('refuses streams with 503 and Connection: close once shutdown has begun, and closes the connection', async () => {
    // Reached only by a request read in the instant between refusing and closing idle
    // connections, so the lane's serving half is driven directly, on a real connection.
    const hub = new Hub({ store: new MemoryStore() });
    const server = createServer();
    const { opener, cors } = createMercureEndpoint(hub);
    const serve = laneStreams({
      server,
      opener,
      cors,
      shutdown: { refusing: true } as GracefulShutdown,
      connections: new ConnectionTracker(server, false),
      requestIds: new WeakMap(),
      logger: undefined,
    });
    const answer = new Promise<string>((resolve) => {
      server.on('connection', (socket: Socket) =>
        serve(
          {
            method: 'GET',
            url: '/.well-known/mercure?topic=t',
            headers: { host: 'hub.test' },
            httpVersionMajor: 1,
          },
          socket,
        ),
      );
      server.listen(0, '127.0.0.1', () => {
        const client = connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port });
        sockets.push(client);
        let text = '';
        client.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
        client.on('close', () => resolve(text));
      });
    });
    const refused = await answer;
    server.close();
    await hub.close();
    expect(refused).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n/);
    expect(refused).toMatch(/\r\nConnection: close\r\n/);
    expect(refused).toMatch(/\r\nRetry-After: 1\r\n/);
    expect(refused).not.toMatch(/Keep-Alive/);
    expect(refused).toMatch(/Shutting down/);
  });

  // Each is left to node:http whole (its first bytes included), which answers as it always has.
  it.each([
    ['a pipelined second request', [STREAM + 'GET /healthz HTTP/1.1\r\nHost: hub.test\r\n\r\n'], 2],
    ['a header given twice', [STREAM.replace('\r\n\r\n', '\r\nAccept: a\r\nAccept: b\r\n\r\n')], 1],
    ['HTTP/1.0', [STREAM.replace('HTTP/1.1', 'HTTP/1.0')], 1],
    ['Connection: close', [STREAM.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n')], 1],
    ['a head split across writes', [STREAM.slice(0, 30), STREAM.slice(30)], 1],
    ['a body', [STREAM.replace('\r\n\r\n', '\r\nContent-Length: 2\r\n\r\nab')], 1],
    ['Expect', [STREAM.replace('\r\n\r\n', '\r\nExpect: 100-continue\r\n\r\n')], 1],
    ['no Host', ['GET /.well-known/mercure?topic=t HTTP/1.1\r\n\r\n'], 0],
    ['a malformed header', [STREAM.replace('\r\n\r\n', '\r\nBad Header: x\r\n\r\n')], 0],
    ['another path', ['GET /.well-known/mercure-x?topic=t HTTP/1.1\r\nHost: hub.test\r\n\r\n'], 1],
  ])('leaves a request with %s to node:http', async (_, request, nodeRequests) => {
    const { lane, node, laneNodeRequests } = await bothWays(request, headEnd, {
      config: { jwtKey: undefined },
    });
    expect(laneNodeRequests).toBe(nodeRequests);
    const statusLine = (text: string) => text.slice(0, text.indexOf('\r\n'));
    expect(statusLine(lane)).toBe(statusLine(node));
  });

  it('closes a connection that sends nothing after the server timeout, and forgets one that leaves without a request', async () => {
    const hub = await hubWith({ config: { jwtKey: undefined, requestTimeoutMs: 200 } });
    const silent = exchange(hub);
    const leaving = exchange(hub);
    await waitUntil(() => hub.status().connections === 2);
    leaving.socket.end();
    await waitUntil(() => leaving.closed && hub.status().connections === 1, 2000);
    const began = Date.now();
    await waitUntil(() => silent.closed, 5000);
    // Node's own timeout for a fresh connection: requestTimeoutMs plus one second.
    expect(Date.now() - began).toBeLessThan(3000);
    await waitUntil(() => hub.status().connections === 0);
  });

  it("hands an ended stream's connection back, and closes it once idle past keepAliveTimeout", async () => {
    const hub = await hubWith({});
    (hub.server as Server).keepAliveTimeout = 200;
    const token = await mint(hmacKey(), subscriberClaims(['t'], 'alice'), { expiresIn: 600 });
    const client = exchange(hub, STREAM.replace('\r\n\r\n', `\r\nAuthorization: Bearer ${token}\r\n\r\n`));
    await waitUntil(() => streamOpened(client.text()));
    expect(hub.hub.disconnectSubject('alice')).toBe(1);
    await waitUntil(() => client.text().endsWith('\r\n0\r\n\r\n'));
    const ended = Date.now();
    // Idle on the handed-back connection: closed after keepAliveTimeout (plus Node's 1 s margin),
    // not after the server's much longer timeout for a connection that never sent a request.
    await waitUntil(() => client.closed, 5000);
    expect(Date.now() - ended).toBeLessThan(3000);
    expect(hub.nodeRequests()).toBe(0);
  });

  it('is not installed on a hub created with streamLane: false', async () => {
    const server = createHubServer({
      streamLane: false,
      config: { port: 0, host: '127.0.0.1', demo: false },
    });
    const names = server.server.listeners('connection').map((listener) => listener.name);
    expect(names).toContain('connectionListener');
    await server.close(100);
  });
});
