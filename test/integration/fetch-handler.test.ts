import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { describe, expect, it } from 'vitest';
import { Hub, MemoryStore } from 'ssehub';
import { createFetchHandler } from 'ssehub/fetch';
import { createMercureHandler } from 'ssehub/http';
import { blackBoxSuite } from '../helpers/black-box.js';
import type { BlackBoxTarget } from '../helpers/black-box.js';
import { BLACK_BOX, blackBoxFetchApp, blackBoxServerSide } from '../helpers/fetch-hub-app.js';
import { openStream, publish, rawRequest, topicUrl } from '../helpers/hub.js';
import { hmacKey, mint, publisherClaims, subscriberClaims } from '../helpers/tokens.js';

async function listening(server: Server): Promise<BlackBoxTarget> {
  if (!server.listening) await new Promise<void>((resolve) => server.once('listening', resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

// The Fetch handler on Node, served by @hono/node-server's Request/Response bridge.
blackBoxSuite('Fetch handler on Node', () =>
  listening(serve({ fetch: blackBoxFetchApp(), port: 0, hostname: '127.0.0.1' }) as Server),
);

// The node:http handlers, under the same suite: both adapters share one core (src/http).
blackBoxSuite('node:http handlers', async () => {
  const side = blackBoxServerSide();
  const mercure = createMercureHandler(side.hub, side.handlerOptions);
  const server = createServer((req, res) => {
    if (req.url === '/__stats') return void res.end(JSON.stringify(side.stats()));
    mercure(req, res);
  });
  server.listen(0, '127.0.0.1');
  return listening(server);
});

describe('Fetch handler: the rest of the Mercure surface', () => {
  it('limits connections (503 for the hub, 429 per subject) and cuts a subject off through the disconnect path', async () => {
    const side = blackBoxServerSide();
    const handler = createFetchHandler(side.hub, {
      ...side.handlerOptions,
      maxConnections: 3,
      maxConnectionsPerSubject: 2,
    });
    const target = await listening(serve({ fetch: handler, port: 0, hostname: '127.0.0.1' }) as Server);
    const hubUrl = `${target.base}/.well-known/mercure`;
    const key = hmacKey(BLACK_BOX.secret);
    const alice = { Authorization: `Bearer ${await mint(key, subscriberClaims(['*'], 'alice'))}` };
    const bob = { Authorization: `Bearer ${await mint(key, subscriberClaims(['*'], 'bob'))}` };
    const streams = [
      await openStream(topicUrl(hubUrl, ['t']), alice),
      await openStream(topicUrl(hubUrl, ['t']), alice),
    ];
    const perSubject = await rawRequest(topicUrl(hubUrl, ['t']), { headers: alice });
    expect([perSubject.status, perSubject.headers['retry-after']]).toEqual([429, '5']);
    streams.push(await openStream(topicUrl(hubUrl, ['t']), bob));
    expect((await rawRequest(topicUrl(hubUrl, ['t']), { headers: bob })).status).toBe(503);

    const cutter = {
      Authorization: `Bearer ${await mint(key, publisherClaims('/.well-known/mercure/subjects/alice'))}`,
    };
    const cut = await publish(`${hubUrl}/disconnect`, { subject: 'alice' }, cutter);
    expect(cut.status, cut.body).toBe(200);
    await Promise.all([streams[0]?.closed, streams[1]?.closed]);
    expect(side.stats().subscribers).toBe(1);
    const refused = await publish(`${hubUrl}/disconnect`, { subject: 'bob' }, cutter);
    expect(refused.status).toBe(403);
    expect((await rawRequest(`${hubUrl}/disconnect`)).status).toBe(405);
    for (const stream of streams) stream.destroy();
    await target.close();
  });
});

describe('Fetch handler: the subscriptions API', () => {
  it('lists active subscriptions with the token payload to a token with the rights, 403 without, 404 on a hub not tracking them', async () => {
    const key = hmacKey(BLACK_BOX.secret);
    const side = blackBoxServerSide();
    const tracking = new Hub({ store: new MemoryStore(), presence: { graceMs: 0 } });
    const handler = createFetchHandler(tracking, { authorizer: side.handlerOptions.authorizer });
    const target = await listening(serve({ fetch: handler, port: 0, hostname: '127.0.0.1' }) as Server);
    const room = 'https://example.com/rooms/1';
    const member = await mint(key, { sub: 'ann', mercure: { subscribe: [], payload: { name: 'Ann' } } });
    const stream = await openStream(topicUrl(`${target.base}/.well-known/mercure`, [room]), {
      Authorization: `Bearer ${member}`,
    });
    const observer = {
      Authorization: `Bearer ${await mint(key, subscriberClaims(['/.well-known/mercure/subscriptions']))}`,
    };
    const listed = await rawRequest(`${target.base}/.well-known/mercure/subscriptions`, {
      headers: observer,
    });
    expect([listed.status, listed.headers['content-type']]).toEqual([200, 'application/ld+json']);
    expect(JSON.parse(listed.body)).toMatchObject({ type: 'Subscriptions', subscriptions: [] });
    const wide = { Authorization: `Bearer ${await mint(key, subscriberClaims(['*']))}` };
    const all = JSON.parse(
      (await rawRequest(`${target.base}/.well-known/mercure/subscriptions`, { headers: wide })).body,
    ) as {
      subscriptions: { topic: string; payload: unknown }[];
    };
    expect(all.subscriptions).toMatchObject([{ topic: room, payload: { name: 'Ann' } }]);
    const refused = await rawRequest(`${target.base}/.well-known/mercure/subscriptions`, {
      headers: { Authorization: `Bearer ${member}` },
    });
    expect(refused.status).toBe(403);
    stream.destroy();
    await target.close();
    await tracking.close();

    const untracked = createFetchHandler(side.hub, side.handlerOptions);
    const answer = await untracked(
      new Request('http://hub.test/.well-known/mercure/subscriptions', { headers: wide }),
    );
    expect(answer.status).toBe(404);
  });
});
