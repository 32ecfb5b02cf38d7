/**
 * The client against the real hub (createHubServer on loopback): exact resume across destroyed
 * sockets and hub restarts, token refresh after a 401, fatal answers, and a silent dead connection
 * (a frozen TCP proxy) caught by the watchdog.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createClient } from '../../../src/client/index.js';
import type {
  ClientEvent,
  ClientOptions,
  ResetNotice,
  SseClient,
  StateChange,
} from '../../../src/client/index.js';
import { HttpError } from '../../../src/http/errors.js';
import type { Authorizer } from '../../../src/http/authorizer.js';
import { RedisStore } from '../../../src/store/redis.js';
import { startTestHub } from '../../helpers/hub.js';
import type { TestHub } from '../../helpers/hub.js';
import { RedisServer, redisAvailable } from '../../helpers/redis.js';
import { until } from '../../helpers/fixture-server.js';
import { TcpProxy } from '../../helpers/tcp-proxy.js';

const TOPIC = 'https://example.com/feed';
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function hub(options: Parameters<typeof startTestHub>[0] = {}): Promise<TestHub> {
  const started = await startTestHub({
    ...options,
    config: { retryMs: 20, heartbeatMs: 15_000, ...options.config },
  });
  cleanups.push(() => started.close());
  return started;
}

async function proxyTo(target: TestHub): Promise<TcpProxy> {
  const proxy = await TcpProxy.start(new URL(target.url).port as unknown as number);
  cleanups.push(() => proxy.close());
  return proxy;
}

interface Recorded {
  client: SseClient;
  events: ClientEvent[];
  states: StateChange[];
  resets: ResetNotice[];
}

function subscribe(url: string, options: ClientOptions = {}): Recorded {
  const client = createClient(url, {
    topics: [TOPIC],
    backoff: { initial: 10, max: 100, jitter: 0.5 },
    onlineEvents: null,
    ...options,
  });
  cleanups.push(() => client.close());
  const recorded: Recorded = { client, events: [], states: [], resets: [] };
  client.on('message', (event) => recorded.events.push(event));
  client.onState((change) => recorded.states.push(change));
  client.onReset((notice) => recorded.resets.push(notice));
  return recorded;
}

const portOf = (url: string) => Number(new URL(url).port);

describe('client against the real hub', () => {
  it('receives 1,000 events exactly once, in order, while its socket is destroyed 8 times', async () => {
    const target = await hub();
    const proxy = await TcpProxy.start(portOf(target.url));
    cleanups.push(() => proxy.close());
    const sub = subscribe(`${proxy.url}/.well-known/mercure`);
    await until(() => sub.client.state === 'open', 'open');

    const published: string[] = [];
    const publishBatch = async (count: number) => {
      for (let i = 0; i < count; i++) {
        const event = await target.hub.publish({ topics: [TOPIC], data: `event ${published.length}` });
        published.push(event.id);
      }
    };
    for (let round = 0; round < 8; round++) {
      const opens = () => sub.states.filter((change) => change.state === 'open').length;
      await until(() => opens() === round + 1 && proxy.liveConnections > 0, `connection ${round + 1} open`);
      await publishBatch(60);
      expect(proxy.dropAll(), `live connections at drop ${round + 1}`).toBeGreaterThanOrEqual(1);
      await publishBatch(65); // published while the client reconnects
    }
    await until(() => sub.events.length >= 1000, '1,000 events', 15_000);
    await new Promise((resolve) => setTimeout(resolve, 50)); // any duplicate would arrive now
    expect(sub.events.map((event) => event.data)).toEqual(published.map((_, i) => `event ${i}`));
    expect(sub.events.map((event) => event.id)).toEqual(published);
    expect(sub.resets).toEqual([]);
    expect(sub.client.lastEventId).toBe(published.at(-1));
    expect(sub.client.reconnects).toBeGreaterThanOrEqual(8);
    expect(proxy.connections).toBeGreaterThanOrEqual(9);
  });

  it('a hub restart with the memory store is reported as a reset, then events flow again', async () => {
    const first = await startTestHub({ config: { retryMs: 20 } });
    const port = portOf(first.url);
    const sub = subscribe(first.hubUrl);
    await until(() => sub.client.state === 'open', 'open');
    const before = await first.hub.publish({ topics: [TOPIC], data: 'before restart' });
    await until(() => sub.events.length === 1, 'event before restart');
    await first.close();

    const second = await hub({ config: { port } });
    await until(
      () => sub.client.state === 'open' && sub.resets.length === 1,
      'reconnected to the new hub',
      10_000,
    );
    await second.hub.publish({ topics: [TOPIC], data: 'after restart' });
    await until(() => sub.events.length === 2, 'event after restart');
    expect(sub.events.map((event) => event.data)).toEqual(['before restart', 'after restart']);
    // The new process has a new epoch: the old id is unknown, and the client is told so once.
    expect(sub.resets).toHaveLength(1);
    expect(sub.resets[0]).toMatchObject({ reason: 'unknown', lastEventId: before.id });
    const retrying = sub.states.filter((change) => change.state === 'retrying');
    expect(retrying.length).toBeGreaterThanOrEqual(1);
  });

  const redisCase = redisAvailable('client resume across a hub restart on Redis') ? it : it.skip;
  redisCase(
    'a hub restart on a Redis store resumes exactly, including events published meanwhile',
    async () => {
      const redis = await RedisServer.start();
      cleanups.push(() => redis.destroy());
      const storeFor = () => RedisStore.connect({ url: redis.url, prefix: 'client-test' });
      const first = await startTestHub({ store: await storeFor(), config: { retryMs: 20 } });
      const port = portOf(first.url);
      const sub = subscribe(first.hubUrl);
      await until(() => sub.client.state === 'open', 'open');
      const published: string[] = [];
      for (let i = 0; i < 20; i++)
        published.push((await first.hub.publish({ topics: [TOPIC], data: `${i}` })).id);
      await until(() => sub.events.length === 20, 'events before restart');
      await first.close();

      // While no hub runs, another instance sharing the store keeps publishing.
      const writer = await storeFor();
      for (let i = 20; i < 40; i++)
        published.push((await writer.append({ topics: [TOPIC], data: `${i}` })).id);
      await writer.close();

      const second = await hub({ store: await storeFor(), config: { port } });
      for (let i = 40; i < 60; i++)
        published.push((await second.hub.publish({ topics: [TOPIC], data: `${i}` })).id);
      await until(() => sub.events.length >= 60, 'all 60 events', 10_000);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(sub.events.map((event) => event.id)).toEqual(published);
      expect(sub.events.map((event) => event.data)).toEqual(published.map((_, i) => `${i}`));
      expect(sub.resets).toEqual([]);
    },
  );

  it('after a 401 it refreshes the token, reconnects and resumes without a gap', async () => {
    let validToken = 'token-1';
    const authorizer: Authorizer = {
      authorizeSubscriber: (req) => {
        if (req.headers.authorization !== `Bearer ${validToken}`) {
          return Promise.reject(new HttpError(401, 'Invalid or expired token.'));
        }
        return Promise.resolve({});
      },
      authorizePublisher: () => Promise.resolve(),
    };
    const target = await hub({ authorizer });
    const proxy = await proxyTo(target);
    const issued: string[] = [];
    const sub = subscribe(`${proxy.url}/.well-known/mercure`, {
      token: ({ refresh }) => {
        issued.push(refresh ? 'refresh' : 'initial');
        return validToken;
      },
    });
    await until(() => sub.client.state === 'open', 'open');
    await target.hub.publish({ topics: [TOPIC], data: 'one' });
    await until(() => sub.events.length === 1, 'first event');

    validToken = 'token-2'; // the old token expires…
    proxy.dropAll(); // …and the connection drops
    await target.hub.publish({ topics: [TOPIC], data: 'two' });
    await until(() => sub.events.length === 2, 'event after refresh');
    expect(sub.events.map((event) => event.data)).toEqual(['one', 'two']);
    expect(issued).toEqual(['initial', 'refresh']);
    const reasons = sub.states.flatMap((change) => (change.state === 'retrying' ? [change.reason] : []));
    expect(reasons.map((reason) => reason.code)).toEqual(['network', 'unauthorized']);
    expect(reasons[1]!.message).toBe(
      'The server answered 401 Unauthorized: Invalid or expired token. Refreshing the token.',
    );
  });

  it('reports the hub’s own reason for a bad request, and HTML where a stream belongs', async () => {
    const target = await hub();
    const noTopic = createClient(target.hubUrl, { onlineEvents: null });
    cleanups.push(() => noTopic.close());
    expect(await noTopic.closed).toMatchObject({ code: 'http-status', status: 400 });
    expect((await noTopic.closed).message).toContain('Missing "topic" parameter.');

    const page = createClient(`${target.url}/`, { onlineEvents: null });
    cleanups.push(() => page.close());
    expect(await page.closed).toEqual({
      code: 'content-type',
      status: 200,
      message: 'Expected Content-Type text/event-stream, got text/html; charset=utf-8.',
    });
  });

  it('a silently dead connection (frozen proxy) is caught by the watchdog and replaced', async () => {
    const target = await hub({ config: { heartbeatMs: 100 } });
    const proxy = await proxyTo(target);
    const sub = subscribe(`${proxy.url}/.well-known/mercure`, { heartbeatTimeout: 1500 });
    await until(() => sub.client.state === 'open', 'open');
    await target.hub.publish({ topics: [TOPIC], data: 'before freeze' });
    await until(() => sub.events.length === 1, 'first event');
    // Heartbeats keep a live but idle connection open well past the watchdog timeout.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect(sub.states.filter((change) => change.state === 'retrying')).toEqual([]);

    const frozenAt = Date.now();
    expect(proxy.freeze()).toBe(1);
    for (let i = 0; i < 5; i++) await target.hub.publish({ topics: [TOPIC], data: `during freeze ${i}` });
    await until(() => sub.events.length === 6, 'events published during the freeze', 15_000);
    const detectedAfter = Date.now() - frozenAt;
    expect(sub.events.map((event) => event.data)).toEqual([
      'before freeze',
      ...[0, 1, 2, 3, 4].map((i) => `during freeze ${i}`),
    ]);
    const retrying = sub.states.find((change) => change.state === 'retrying');
    expect(retrying).toMatchObject({ reason: { code: 'heartbeat-timeout' } });
    // The watchdog waited for 1,500 ms of silence, counted from the last heartbeat: that came up to
    // 100 ms (interval) + 25 ms (the hub's sweep) before the freeze, and timers on a busy machine
    // drift some tens of ms. TCP alone would wait for minutes.
    expect(detectedAfter).toBeGreaterThanOrEqual(1300);
    expect(detectedAfter).toBeLessThan(10_000);
  });
});
