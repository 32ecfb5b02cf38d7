import { readAfter } from '../helpers/history.js';
import { EventSource } from 'eventsource';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/store/memory.js';
import { RedisStore, compareStreamIds } from '../../src/store/redis.js';
import type { Store } from '../../src/store/types.js';
import { HubProcess, runHubCli } from '../helpers/hub-process.js';
import { delay, openStream, publish, startTestHub, topicUrl } from '../helpers/hub.js';
import type { RawStream } from '../helpers/hub.js';
import { RedisServer, freePort, redisAvailable } from '../helpers/redis.js';
import { eventually } from '../helpers/wait.js';

const RESET = 'ssehub-reset';

function inStreamOrder(ids: readonly string[]): string[] {
  return [...ids].sort(compareStreamIds);
}

describe.runIf(redisAvailable('hub processes on Redis'))('hub processes sharing one Redis', () => {
  let redis: RedisServer;
  let namespace = 0;
  const hubs: HubProcess[] = [];
  const streams: RawStream[] = [];

  async function startHubs(count: number, extra: string[] = []): Promise<HubProcess[]> {
    const prefix = `hubs-${process.pid}-${++namespace}`;
    const started = await Promise.all(
      Array.from({ length: count }, () =>
        HubProcess.start(['--redis', redis.url, '--redis-prefix', prefix, ...extra]),
      ),
    );
    hubs.push(...started);
    return started;
  }

  async function subscribe(url: string, headers: Record<string, string> = {}): Promise<RawStream> {
    const stream = await openStream(url, headers);
    streams.push(stream);
    return stream;
  }

  beforeAll(async () => {
    redis = await RedisServer.start({ appendOnly: true });
  });
  afterEach(async () => {
    for (const stream of streams.splice(0)) stream.destroy();
    await Promise.all(hubs.splice(0).map((hub) => hub.kill('SIGKILL')));
    if (!redis.running) await redis.restart();
  });
  afterAll(async () => {
    await redis?.destroy();
  });

  it('says "cannot resume" exactly as the memory store does (expired, unknown, malformed)', async () => {
    const outcomes: Record<string, unknown>[] = [];
    const stores: Store[] = [
      new MemoryStore({ historySize: 5 }),
      await RedisStore.connect({
        url: redis.url,
        prefix: `reset-${process.pid}-${++namespace}`,
        historySize: 5,
      }),
    ];
    for (const store of stores) {
      const test = await startTestHub({ store });
      try {
        const ids: string[] = [];
        for (let n = 0; n < 300; n++)
          ids.push((await publish(test.hubUrl, { topic: 'urn:r', data: `${n}` })).body);
        const outcome: Record<string, unknown> = {};
        for (const [name, lastEventId] of [
          ['expired', ids[0]],
          ['unknown', 'no-such-id'],
          ['malformed', 'x'.repeat(2000)],
        ] as const) {
          const head = await store.head();
          const stream = await openStream(topicUrl(test.hubUrl, ['urn:r']), {
            'Last-Event-ID': lastEventId as string,
          });
          streams.push(stream);
          await stream.waitFor(() => stream.events.length === 1, 5000, `reset for ${name}`);
          const reset = stream.events[0];
          expect(reset?.type).toBe(RESET);
          const signal = JSON.parse(reset?.data ?? '{}') as Record<string, unknown>;
          expect(signal).toEqual({ reason: name, lastEventId, resumeFrom: head });
          expect(reset?.lastEventId).toBe(head);
          outcome[name] = signal.reason;
          stream.destroy();
        }
        outcomes.push(outcome);
      } finally {
        await test.close();
      }
    }
    expect(outcomes[1]).toEqual(outcomes[0]);
  });

  it('while Redis is down: resuming subscriptions get 503, publishes 503 with Retry-After, nothing changes', async () => {
    const store = await RedisStore.connect({ url: redis.url, prefix: `down-${process.pid}-${++namespace}` });
    const test = await startTestHub({ store });
    try {
      const first = await publish(test.hubUrl, { topic: 'urn:d', data: 'kept' });
      expect(first.status).toBe(200);
      await redis.stop();
      const refused = await publish(test.hubUrl, { topic: 'urn:d', data: 'refused' });
      expect(refused.status).toBe(503);
      expect(refused.headers['retry-after']).toMatch(/^[0-9]+$/);
      expect(refused.body.trim().split('\n')).toHaveLength(1);
      const resuming = await openStream(topicUrl(test.hubUrl, ['urn:d']), { 'Last-Event-ID': first.body });
      streams.push(resuming);
      expect(resuming.response.statusCode).toBe(503);
      await resuming.closed;
      expect(resuming.text().trim().split('\n')).toHaveLength(1);
      await redis.restart();
      await eventually(() => store.isReady(), 10_000, 'the store to reconnect');
      const history = await readAfter(store, 'earliest');
      expect(history.ok && history.events.map((event) => event.data)).toEqual(['kept']);
    } finally {
      await test.close();
    }
  });

  it('exits non-zero with one clear line when Redis is unreachable at start-up', async () => {
    const port = await freePort();
    const result = await runHubCli(['--port', '0', '--redis', `redis://:hunter2@127.0.0.1:${port}`]);
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(`^ssehub: cannot connect to Redis at redis://:\\*\\*\\*@127\\.0\\.0\\.1:${port}`),
    );
    expect(lines[0]).toMatch(/ECONNREFUSED/);
    expect(result.stderr).not.toContain('hunter2');
    expect(result.stdout).not.toContain('listening');
  });

  it('rejects a malformed Redis URL or prefix at start-up with one line, exit 2', async () => {
    for (const args of [
      ['--redis', 'localhost:6379'],
      ['--redis', redis.url, '--redis-prefix', 'with space'],
      ['--redis', redis.url, '--redis-prefix', '{tag}'],
    ]) {
      const result = await runHubCli(args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(/^ssehub: --redis(-prefix)?: /);
    }
  });

  it('delivers an event published on hub A to a subscriber on hub B', async () => {
    const [a, b] = (await startHubs(2)) as [HubProcess, HubProcess];
    const onB = await subscribe(topicUrl(b.hubUrl, ['urn:ab']));
    const published = await publish(a.hubUrl, { topic: 'urn:ab', data: 'hello from A' });
    expect(published.status).toBe(200);
    await onB.waitFor(() => onB.events.length === 1, 10_000, 'the event on B');
    expect(onB.events[0]).toMatchObject({ data: 'hello from A', lastEventId: published.body });
  });

  it('a subscriber moving from A to B with its Last-Event-ID gets every event once, in order', async () => {
    const [a, b] = (await startHubs(2)) as [HubProcess, HubProcess];
    const topic = 'urn:move';
    const onA = await subscribe(topicUrl(a.hubUrl, [topic]));
    const published: string[] = [];
    const TOTAL = 240;
    const publishing = (async () => {
      for (let n = 0; n < TOTAL; n++) {
        const result = await publish((n % 2 ? a : b).hubUrl, { topic, data: `move ${n}` });
        if (result.status !== 200) throw new Error(`publish ${n}: ${result.status} ${result.body}`);
        published.push(result.body);
      }
    })();
    await onA.waitFor(() => onA.events.length >= 60, 15_000, '60 events on A');
    onA.destroy();
    await onA.closed;
    const fromA = onA.events.map((event) => event.lastEventId);
    const lastSeen = fromA[fromA.length - 1] as string;
    const onB = await subscribe(topicUrl(b.hubUrl, [topic]), { 'Last-Event-ID': lastSeen });
    expect(onB.response.headers['last-event-id']).toBe(lastSeen);
    await publishing;
    const newest = inStreamOrder(published).at(-1) as string;
    await onB.waitFor(() => onB.lastEventId() === newest, 15_000, 'the newest event on B');
    const fromB = onB.events.map((event) => event.lastEventId);
    expect(onB.events.filter((event) => event.type === RESET)).toEqual([]);
    expect([...fromA, ...fromB]).toEqual(inStreamOrder(published));
  });

  it('eventsource subscribers of a hub killed with SIGKILL and restarted lose nothing', async () => {
    const [victim, other] = (await startHubs(2, ['--retry-ms', '100'])) as [HubProcess, HubProcess];
    const topic = 'urn:crash';
    const sources: EventSource[] = [];
    const received: string[][] = [[], []];
    for (const list of received) {
      const source = new EventSource(topicUrl(victim.hubUrl, [topic]));
      source.onmessage = (event) => list.push(event.lastEventId);
      sources.push(source);
    }
    try {
      await eventually(
        () => sources.every((source) => source.readyState === EventSource.OPEN),
        10_000,
        'open',
      );
      const published: string[] = [];
      const publishSome = async (count: number) => {
        for (let n = 0; n < count; n++) {
          const result = await publish(other.hubUrl, { topic, data: `crash ${published.length}` });
          expect(result.status).toBe(200);
          published.push(result.body);
        }
      };
      await publishSome(20);
      await eventually(() => received.every((list) => list.length === 20), 10_000, 'the first 20 events');
      await victim.kill('SIGKILL');
      await publishSome(30);
      await victim.restart();
      await publishSome(20);
      await eventually(
        () => received.every((list) => list.length >= 70),
        20_000,
        'all 70 events after restart',
      );
      await delay(200);
      for (const list of received) expect(list).toEqual(published);
    } finally {
      for (const source of sources) source.close();
    }
  });

  it('Redis stopped and restarted (AOF) while publishing: every 2xx is delivered, no 503 is half-delivered', async () => {
    const [a, b] = (await startHubs(2)) as [HubProcess, HubProcess];
    const topic = 'urn:outage';
    const onA = await subscribe(topicUrl(a.hubUrl, [topic]));
    const onB = await subscribe(topicUrl(b.hubUrl, [topic]));
    const accepted = new Map<string, string>();
    const refused = new Set<string>();
    // An object, so that TypeScript does not narrow what the outage task changes concurrently.
    const redisState: { phase: 'before' | 'down' | 'after' } = { phase: 'before' };
    let acceptedAfterRestart = 0;
    const outage = (async () => {
      await eventually(() => accepted.size >= 40, 15_000, '40 accepted publishes');
      await redis.stop('SIGKILL');
      redisState.phase = 'down';
      await delay(800);
      await redis.restart();
      redisState.phase = 'after';
    })();
    const deadline = Date.now() + 30_000;
    for (let n = 0; redisState.phase !== 'after' || acceptedAfterRestart < 40; n++) {
      if (Date.now() > deadline || n > 5000)
        throw new Error(`publishing did not recover (phase ${redisState.phase})`);
      const data = `outage ${n}`;
      const result = await publish((n % 2 ? a : b).hubUrl, { topic, data });
      if (result.status === 200) {
        accepted.set(data, result.body);
        if (redisState.phase === 'after') acceptedAfterRestart++;
      } else {
        expect(result.status, result.body).toBe(503);
        expect(result.headers['retry-after']).toMatch(/^[0-9]+$/);
        expect(result.body.trim().split('\n')).toHaveLength(1);
        expect(result.body).toMatch(/Redis unavailable/);
        refused.add(data);
        await delay(20);
      }
    }
    await outage;
    expect(refused.size).toBeGreaterThan(0);
    const newest = inStreamOrder([...accepted.values()]).at(-1) as string;
    for (const stream of [onA, onB]) {
      await stream.waitFor(() => stream.lastEventId() === newest, 20_000, 'the newest accepted event');
      expect(stream.events.filter((event) => event.type === RESET)).toEqual([]);
    }
    const seenOnA = onA.events.map((event) => `${event.lastEventId} ${event.data}`);
    const seenOnB = onB.events.map((event) => `${event.lastEventId} ${event.data}`);
    // Both hubs delivered the same events in the same order: nothing reached only some subscribers.
    expect(seenOnB).toEqual(seenOnA);
    const ids = onA.events.map((event) => event.lastEventId);
    expect(ids).toEqual(inStreamOrder(ids));
    expect(new Set(ids).size).toBe(ids.length);
    const delivered = new Map(onA.events.map((event) => [event.data, event.lastEventId]));
    for (const [data, id] of accepted) expect(delivered.get(data), data).toBe(id);
    // Anything else delivered was a publish answered 503 whose write reached Redis before it died.
    for (const data of delivered.keys()) if (!accepted.has(data)) expect(refused.has(data), data).toBe(true);
  });
});
