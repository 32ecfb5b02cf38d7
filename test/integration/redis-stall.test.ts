import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../src/store/redis.js';
import { openStream, publish, rawRequest, startTestHub, topicUrl } from '../helpers/hub.js';
import type { RawStream, TestHub } from '../helpers/hub.js';
import { RedisServer, redisAvailable } from '../helpers/redis.js';
import { eventually } from '../helpers/wait.js';

// Issue 11, item 3: a publish answered 503 while Redis hung must not be stored when Redis resumes
// and runs the command still waiting in its socket; /readyz says "not ready" during the hang.
describe.runIf(redisAvailable('publishing while Redis hangs'))('publishing while Redis hangs', () => {
  let redis: RedisServer;
  let hub: TestHub | undefined;
  let namespace = 0;
  const streams: RawStream[] = [];
  const topic = 'urn:stall';

  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterEach(async () => {
    redis.signal('SIGCONT');
    for (const stream of streams.splice(0)) stream.destroy();
    await hub?.close();
    hub = undefined;
  });
  afterAll(async () => {
    await redis?.destroy();
  });

  async function startHub(commandTimeoutMs: number): Promise<TestHub> {
    const store = await RedisStore.connect({
      url: redis.url,
      prefix: `stall-${process.pid}-${++namespace}`,
      commandTimeoutMs,
    });
    hub = await startTestHub({ store });
    return hub;
  }

  async function subscribe(url: string, headers: Record<string, string> = {}): Promise<RawStream> {
    const stream = await openStream(url, headers);
    streams.push(stream);
    return stream;
  }

  const readyz = async (url: string) => (await rawRequest(`${url}/readyz`)).status;

  it('a 503 during a stall means not stored: never delivered, not in history; /readyz is 503 until Redis answers', async () => {
    const hub = await startHub(500);
    const live = await subscribe(topicUrl(hub.hubUrl, [topic]));
    const before = await publish(hub.hubUrl, { topic, data: 'before' });
    expect(before.status).toBe(200);
    expect(await readyz(hub.url)).toBe(200);
    redis.signal('SIGSTOP');
    const started = Date.now();
    const during = await publish(hub.hubUrl, { topic, data: 'during' });
    const elapsed = Date.now() - started;
    const readyDuringStall = await readyz(hub.url);
    redis.signal('SIGCONT');
    expect(during.status).toBe(503);
    expect(during.body.trim().split('\n')).toHaveLength(1);
    expect(during.body).toMatch(/^Event not stored: Redis unavailable/);
    expect(during.headers['retry-after']).toBeDefined();
    expect(elapsed).toBeGreaterThanOrEqual(500);
    expect(readyDuringStall).toBe(503);

    await eventually(async () => (await readyz(hub.url)) === 200, 5000, '/readyz 200 after the stall');
    const after = await publish(hub.hubUrl, { topic, data: 'after' });
    expect(after.status).toBe(200);
    await live.waitFor(() => live.events.some((event) => event.lastEventId === after.body));
    expect(live.events.map((event) => event.data)).toEqual(['before', 'after']);
    const replay = await subscribe(topicUrl(hub.hubUrl, [topic]), { 'Last-Event-ID': 'earliest' });
    await replay.waitFor(() => replay.events.some((event) => event.lastEventId === after.body));
    expect(replay.events.map((event) => event.data)).toEqual(['before', 'after']);
  });

  it('a publish whose reply is slow but within the deadline is stored and answered 200', async () => {
    const hub = await startHub(2000);
    const live = await subscribe(topicUrl(hub.hubUrl, [topic]));
    redis.signal('SIGSTOP');
    const pending = publish(hub.hubUrl, { topic, data: 'slow' });
    await new Promise((resolve) => setTimeout(resolve, 400));
    redis.signal('SIGCONT');
    const answer = await pending;
    expect(answer.status).toBe(200);
    await live.waitFor(() => live.events.length === 1);
    expect(live.events[0]).toMatchObject({ data: 'slow', lastEventId: answer.body });
  });
});
