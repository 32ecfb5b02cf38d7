import type { Server } from 'node:http';
import { describe, expect, it } from 'vitest';
import type { Authorizer } from '../../src/http/authorizer.js';
import { answeredCount, answersIn, comparable, laneTestKit } from '../helpers/lane-exchange.js';
import type { LaneHub } from '../helpers/lane-exchange.js';
import { HS_SECRET, hmacKey, mint, publisherClaims, subscriberClaims } from '../helpers/tokens.js';
import { eventually as waitUntil } from '../helpers/wait.js';

/**
 * Publishes on the standalone hub's lane (src/server/stream-lane.ts, architecture invariant 36): a
 * plain POST whose body came with its head is served without node:http's request and response,
 * one after another on a keep-alive connection, with the answer node:http gives (Date and the
 * fresh request id apart); anything else reaches node:http untouched.
 */

const ORIGIN = 'http://app.test';
const { hubWith, exchange, bothWays } = laneTestKit({ corsOrigins: [ORIGIN], jwtKey: HS_SECRET });

let token = '';
const publisherToken = async () =>
  (token ||= await mint(hmacKey(), publisherClaims('*'), { expiresIn: 600 }));

/** A publish request: a form body, a publisher's token unless `headers` says otherwise. */
async function publishRequest(
  body: string,
  headers = '',
  contentType = 'application/x-www-form-urlencoded',
): Promise<string> {
  const auth = headers.includes('Authorization') ? '' : `Authorization: Bearer ${await publisherToken()}\r\n`;
  return (
    'POST /.well-known/mercure HTTP/1.1\r\nHost: hub.test\r\n' +
    `Content-Type: ${contentType}\r\n${auth}${headers}` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

const once = (count: number) => (text: string) => answeredCount(text) >= count;
/** The bodies of the whole answers in `text`, in order. */
const bodiesOf = (text: string) =>
  text
    .split(/HTTP\/1\.1 \d{3} [^\r]*\r\n[^]*?\r\n\r\n/)
    .slice(1)
    .map((body) => Buffer.from(body, 'latin1').toString('utf8'));

/** An authorizer that lets everyone in, each publish after `delayMs`: a publish still in flight. */
function slowPublishes(delayMs: number): Authorizer {
  return {
    authorizeSubscriber: () =>
      Promise.resolve({ topics: ['*'] }) as ReturnType<Authorizer['authorizeSubscriber']>,
    authorizePublisher: () => new Promise((resolve) => setTimeout(resolve, delayMs)),
  };
}

async function heldBodyBytes(hub: LaneHub): Promise<number> {
  const text = await (await fetch(`${hub.url}/metrics`)).text();
  return Number(/^ssehub_request_body_bytes (\d+)/m.exec(text)?.[1]);
}

describe('publish lane', () => {
  it('serves a plain publish without node:http, with the answer node:http gives', async () => {
    const request = await publishRequest('topic=t&data=hello&id=urn:a');
    const { lane, node, laneNodeRequests } = await bothWays([request], once(1));
    expect(laneNodeRequests).toBe(0);
    expect(lane).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nurn:a$/);
    expect(comparable(lane)).toBe(comparable(node));
  });

  it('answers an id that is not ASCII in UTF-8, its Content-Length in bytes, as node:http does', async () => {
    const request = await publishRequest(`topic=t&data=1&id=${encodeURIComponent('urn:événement:1')}`);
    const { lane, node, laneNodeRequests } = await bothWays([request], once(1));
    expect(laneNodeRequests).toBe(0);
    expect(bodiesOf(lane)).toEqual(['urn:événement:1']);
    expect(comparable(lane)).toBe(comparable(node));
  });

  it('answers an allowed origin with the same CORS headers, and echoes the request id given', async () => {
    const request = await publishRequest(
      'topic=t&data=x&id=urn:b',
      `Origin: ${ORIGIN}\r\nX-Request-Id: req-42\r\n`,
    );
    const { lane, node } = await bothWays([request], once(1));
    expect(lane).toMatch(/\r\nAccess-Control-Allow-Origin: http:\/\/app\.test\r\n/);
    expect(lane).toMatch(/\r\nX-Request-Id: req-42\r\n/);
    expect(comparable(lane)).toBe(comparable(node));
  });

  it.each([
    ['no topic', 'data=x', ''],
    ['a bad retry', 'topic=t&data=x&retry=soon', ''],
    ['a duplicate id', 'topic=t&data=other&id=urn:dup', ''],
  ])(
    'refuses a publish with %s as node:http does, and serves the next one on the connection',
    async (_, body) => {
      const [first, refused, next] = await Promise.all([
        publishRequest('topic=t&data=x&id=urn:dup'),
        publishRequest(body),
        publishRequest('topic=t&data=next&id=urn:next'),
      ]);
      const { lane, node, laneNodeRequests } = await bothWays(
        [first as string, refused as string, next as string],
        once(3),
      );
      expect(lane).toMatch(/\r\n\r\nurn:dup\r?\n?HTTP\/1\.1 4\d\d /);
      expect(laneNodeRequests).toBe(0);
      expect(answersIn(lane).map(comparable)).toEqual(answersIn(node).map(comparable));
      expect(bodiesOf(lane)[2]).toBe('urn:next');
    },
  );

  // node:http closes these connections: the hub refused before reading the body, which may still
  // be on its way. The lane only takes a request whose body has all arrived, so it keeps them.
  it.each([
    [
      'no token',
      'topic=t&data=x',
      'Authorization: Bearer nope\r\n',
      'application/x-www-form-urlencoded',
      401,
    ],
    ['another media type', 'topic=t&data=x', '', 'text/plain', 415],
  ])(
    'refuses a publish with %s before its body as node:http does, and keeps the connection',
    async (_, body, headers, contentType, status) => {
      const request = await publishRequest(body, headers, contentType);
      const next = await publishRequest('topic=t&data=next&id=urn:next');
      const laneHub = await hubWith({});
      const nodeHub = await hubWith({ streamLane: false });
      const viaLane = exchange(laneHub, request, next);
      const viaNode = exchange(nodeHub, request, next);
      await waitUntil(() => answeredCount(viaLane.text()) === 2 && viaNode.closed);
      expect(laneHub.nodeRequests()).toBe(0);
      const [refused] = answersIn(viaLane.text());
      expect(refused).toMatch(new RegExp(`^HTTP/1\\.1 ${status} [^]*\\r\\nConnection: keep-alive\\r\\n`));
      expect(viaNode.text()).toMatch(/\r\nConnection: close\r\n/);
      const connectionLines = /\r\nConnection: close|\r\nConnection: keep-alive\r\nKeep-Alive: [^\r]*/g;
      const apartFromConnection = (answer: string) => comparable(answer.replace(connectionLines, ''));
      expect(apartFromConnection(refused as string)).toBe(apartFromConnection(viaNode.text()));
      expect(bodiesOf(viaLane.text())[1]).toBe('urn:next');
    },
  );

  it('refuses a body over --max-body-bytes with 413 and closes the connection, as node:http does', async () => {
    const request = await publishRequest(`topic=t&data=${'x'.repeat(200)}`);
    const { lane, node, laneNodeRequests } = await bothWays([request], once(1), {
      config: { maxBodyBytes: 100 },
    });
    expect(laneNodeRequests).toBe(0);
    expect(lane).toMatch(/^HTTP\/1\.1 413 [^]*\r\nConnection: close\r\n/);
    expect(comparable(lane)).toBe(comparable(node));
  });

  it('holds a body against the hub-wide budget until answered: 503 past it, nothing held after', async () => {
    const request = await publishRequest(`topic=t&data=${'x'.repeat(200)}`);
    const { lane, node } = await bothWays([request], once(1), { config: { maxBodyBytesInFlight: 100 } });
    expect(lane).toMatch(/^HTTP\/1\.1 503 /);
    expect(comparable(lane)).toBe(comparable(node));
    const hub = await hubWith({});
    const client = exchange(hub, await publishRequest('topic=t&data=y'));
    await waitUntil(() => answeredCount(client.text()) === 1);
    expect(await heldBodyBytes(hub)).toBe(0);
  });

  it('serves publishes one after another on a keep-alive connection, then hands another request to node:http', async () => {
    const hub = await hubWith({});
    const requests = await Promise.all(
      ['1', '2', '3'].map((n) => publishRequest(`topic=t&data=${n}&id=urn:k${n}`)),
    );
    const client = exchange(hub, requests[0] as string);
    for (const [i, request] of requests.slice(1).entries()) {
      await waitUntil(() => answeredCount(client.text()) === i + 1);
      client.socket.write(request);
    }
    await waitUntil(() => answeredCount(client.text()) === 3);
    expect(hub.nodeRequests()).toBe(0);
    client.socket.write('GET /healthz HTTP/1.1\r\nHost: hub.test\r\n\r\n');
    await waitUntil(() => answeredCount(client.text()) === 4);
    expect(bodiesOf(client.text())).toEqual(['urn:k1', 'urn:k2', 'urn:k3', 'ok: process alive\n']);
    expect(hub.nodeRequests()).toBe(1);
    expect(client.closed).toBe(false);
  });

  it('opens a stream on a connection that published before, still without node:http', async () => {
    const hub = await hubWith({});
    const client = exchange(hub, await publishRequest('topic=t&data=first&id=urn:s1'));
    await waitUntil(() => answeredCount(client.text()) === 1);
    const subscriber = await mint(hmacKey(), subscriberClaims(['t'], 'alice'), { expiresIn: 600 });
    client.socket.write(
      `GET /.well-known/mercure?topic=t&lastEventID=earliest HTTP/1.1\r\nHost: hub.test\r\nAuthorization: Bearer ${subscriber}\r\n\r\n`,
    );
    await waitUntil(() => client.text().includes('data: first'));
    expect(hub.nodeRequests()).toBe(0);
  });

  it('answers a publish sent while the one before is still served after it, in order', async () => {
    const hub = await hubWith({ authorizer: slowPublishes(150), config: { jwtKey: undefined } });
    const [first, second] = await Promise.all(
      ['1', '2'].map((n) => publishRequest(`topic=t&data=${n}&id=urn:o${n}`, 'Authorization: none\r\n')),
    );
    // The second is written 20 ms after the first, while the first waits on its authorizer.
    const client = exchange(hub, first as string, second as string);
    await waitUntil(() => answeredCount(client.text()) === 2, 3000);
    expect(bodiesOf(client.text())).toEqual(['urn:o1', 'urn:o2']);
    expect(hub.nodeRequests()).toBe(0);
  });

  // Each is left to node:http whole (its bytes included), which answers as it always has.
  it.each([
    [
      'a publish and the start of the next in one write',
      async () => {
        const second = await publishRequest('topic=t&data=2');
        return [(await publishRequest('topic=t&data=1')) + second.slice(0, 20), second.slice(20)];
      },
      2,
    ],
    [
      'two publishes in one write',
      async () => [(await publishRequest('topic=t&data=1')) + (await publishRequest('topic=t&data=2'))],
      2,
    ],
    [
      'a body split across writes',
      async () => {
        const request = await publishRequest('topic=t&data=split');
        return [request.slice(0, -5), request.slice(-5)];
      },
      1,
    ],
    [
      'a chunked body',
      async () => [
        (await publishRequest('topic=t&data=c')).replace(
          /Content-Length: \d+\r\n\r\n(.*)$/,
          (_, body: string) =>
            `Transfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`,
        ),
      ],
      1,
    ],
    ['Expect', async () => [await publishRequest('topic=t&data=e', 'Expect: 100-continue\r\n')], 1],
    ['HTTP/1.0', async () => [(await publishRequest('topic=t&data=h')).replace('HTTP/1.1', 'HTTP/1.0')], 1],
    ['Connection: close', async () => [await publishRequest('topic=t&data=c', 'Connection: close\r\n')], 1],
    [
      'a header given twice',
      async () => [await publishRequest('topic=t&data=d', 'Accept: a\r\nAccept: b\r\n')],
      1,
    ],
    ['a body past 16 KB', async () => [await publishRequest(`topic=t&data=${'x'.repeat(17_000)}`)], 1],
  ])('leaves a publish with %s to node:http', async (_, request, nodeRequests) => {
    // Each request gets one final answer (after a 100 Continue, for Expect).
    const finalAnswers = (text: string) => text.match(/HTTP\/1\.[01] [2-5]\d\d [^\r]*/g) ?? [];
    const { lane, node, laneNodeRequests } = await bothWays(
      await request(),
      (text) => finalAnswers(text).length === nodeRequests,
    );
    expect(laneNodeRequests).toBe(nodeRequests);
    const statusLines = (text: string) => text.split('\r\n').filter((line) => line.startsWith('HTTP/1.'));
    expect(statusLines(lane)).toEqual(statusLines(node));
  });

  it('closes a connection idle past keepAliveTimeout after a publish, not before', async () => {
    const hub = await hubWith({});
    (hub.server as Server).keepAliveTimeout = 200;
    const client = exchange(hub, await publishRequest('topic=t&data=x'));
    await waitUntil(() => answeredCount(client.text()) === 1);
    expect(client.text()).toMatch(/\r\nKeep-Alive: timeout=0\r\n/);
    const answeredAt = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(client.closed).toBe(false);
    // keepAliveTimeout plus the same 1 s margin a handed-back stream connection gets.
    await waitUntil(() => client.closed, 5000);
    expect(Date.now() - answeredAt).toBeLessThan(3000);
  });

  it('lets a publish in flight at shutdown finish, then closes its connection and the idle ones', async () => {
    const hub = await hubWith({ authorizer: slowPublishes(300), config: { jwtKey: undefined } });
    const idle = exchange(hub, await publishRequest('topic=t&data=idle&id=urn:i', 'Authorization: none\r\n'));
    await waitUntil(() => answeredCount(idle.text()) === 1, 3000);
    const busy = exchange(hub, await publishRequest('topic=t&data=busy&id=urn:b', 'Authorization: none\r\n'));
    await waitUntil(() => hub.status().connections === 2);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const closing = hub.close(5000);
    await waitUntil(() => idle.closed, 2000);
    await closing;
    expect(bodiesOf(busy.text())).toEqual(['urn:b']);
    await waitUntil(() => busy.closed, 2000);
    expect(hub.nodeRequests()).toBe(0);
  });
});
