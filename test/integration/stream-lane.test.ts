import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { Hub } from '../../src/hub/hub.js';
import { createMercureEndpoint } from '../../src/http/mercure.js';
import { ConnectionTracker } from '../../src/ops/connections.js';
import { createHubServer } from '../../src/server/app.js';
import { laneStreams } from '../../src/server/lane-streams.js';
import type { GracefulShutdown } from '../../src/server/shutdown.js';
import { MemoryStore } from '../../src/store/memory.js';
import { answered, comparable, headEnd, laneTestKit } from '../helpers/lane-exchange.js';
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

const { hubWith, exchange, bothWays, sockets } = laneTestKit({ corsOrigins: [ORIGIN], jwtKey: HS_SECRET });
const streamOpened = (text: string) => /\r\n\r\n[0-9a-f]+\r\n:\n/.test(text);

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

  it('writes a refusal whose reason is not ASCII in UTF-8, its Content-Length in bytes, as node:http does', async () => {
    const request = 'GET /.well-known/mercure?match_urlpattern=%C3%A9( HTTP/1.1\r\nHost: hub.test\r\n\r\n';
    const { lane, node, laneNodeRequests } = await bothWays([request], answered, {
      config: { jwtKey: undefined },
    });
    expect(laneNodeRequests).toBe(0);
    expect(Buffer.from(lane, 'latin1').toString('utf8')).toMatch(/^HTTP\/1\.1 400 [^]*"é\("/);
    expect(comparable(lane)).toBe(comparable(node));
  });

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
            body: undefined,
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
