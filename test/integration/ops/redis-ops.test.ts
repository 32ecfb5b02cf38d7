import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createHubServer } from '../../../src/server/app.js';
import { RedisStore } from '../../../src/store/redis.js';
import { RedisServer, redisAvailable } from '../../helpers/redis.js';
import { exited, startHubProcess } from '../../helpers/hub-process.js';
import type { runCli } from '../../helpers/hub-process.js';
import { openStream, publish } from '../../helpers/stream-reader.js';
import { scrape } from '../../helpers/metrics.js';
import { eventually } from '../../helpers/wait.js';
import type { StreamReader } from '../../helpers/stream-reader.js';

async function readyz(url: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`${url}/readyz`);
  return { status: response.status, body: await response.text() };
}

describe.runIf(redisAvailable('operations on Redis'))('operations on the Redis store', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(async () => {
    await redis?.destroy();
  });

  test('readiness turns 503 while Redis is away and back to 200 when it returns', async () => {
    const store = await RedisStore.connect({ url: redis.url, prefix: 'ops-ready', warn: () => undefined });
    const hub = createHubServer({ config: { port: 0, demo: false }, store });
    const url = await hub.listen();
    try {
      expect(await readyz(url)).toEqual({ status: 200, body: 'ready: redis store reachable\n' });
      await redis.stop();
      await eventually(async () => (await readyz(url)).status === 503, 10_000);
      expect(await readyz(url)).toEqual({ status: 503, body: 'not ready: redis store unreachable\n' });
      expect((await scrape(url)).get('ssehub_ready')).toBe(0);
      const refused = await publish(url, 'orders', 'while Redis is away');
      expect(refused.status).toBe(503);
      expect((await scrape(url)).get('ssehub_store_errors_total{operation="append"}')).toBe(1);
      const health = await fetch(`${url}/healthz`);
      expect(health.status).toBe(200);

      await redis.restart();
      await eventually(async () => (await readyz(url)).status === 200, 15_000);
      expect((await publish(url, 'orders', 'after')).status).toBe(200);
    } finally {
      await hub.close(2000);
    }
  });

  test('SIGTERM while publishing: subscribers resume on a second instance and miss nothing', async () => {
    const children: ReturnType<typeof runCli>[] = [];
    const streams: StreamReader[] = [];
    try {
      const args = ['--redis', redis.url, '--redis-prefix', 'ops-sigterm', '--shutdown-timeout-ms', '5000'];
      const a = await startHubProcess(args);
      children.push(a.child);
      const b = await startHubProcess(args);
      children.push(b.child);
      const onA = await Promise.all([1, 2, 3].map(() => openStream(a.url, ['load'])));
      streams.push(...onA);

      const acknowledged: string[] = [];
      let signalled = false;
      const publisher = async (name: string) => {
        const stopAt = Date.now() + 15_000;
        for (let i = 0; i < 3000 && Date.now() < stopAt; i++) {
          let answer;
          try {
            answer = await publish(a.url, 'load', `${name}-${i}`);
          } catch {
            return;
          }
          if (answer.status !== 200) {
            expect(answer.status).toBe(503);
            return;
          }
          acknowledged.push(answer.body);
          if (!signalled && acknowledged.length >= 200) {
            signalled = true;
            a.child.kill('SIGTERM');
          }
        }
      };
      await Promise.all(['p1', 'p2', 'p3'].map(publisher));
      expect((await exited(a.child)).code).toBe(0);
      expect(acknowledged.length).toBeGreaterThanOrEqual(200);

      // Each client reconnects to the other instance with the id it last saw, as EventSource does.
      const after = [];
      for (const stream of onA) {
        expect(await stream.ended).toEqual({ clean: true });
        const resumed = await openStream(b.url, ['load'], { lastEventId: stream.lastEventId });
        streams.push(resumed);
        expect(resumed.status).toBe(200);
        after.push(resumed);
      }
      expect((await publish(b.url, 'load', 'marker')).status).toBe(200);
      for (const [index, stream] of after.entries()) {
        await stream.waitFor((events) => events.some((e) => e.data === 'marker'), 10_000);
        const before = onA[index]!.events;
        const all = [...before, ...stream.events.filter((e) => e.data !== 'marker')];
        expect(stream.events.some((e) => e.type === 'ssehub-reset')).toBe(false);
        const ids = all.map((e) => e.lastEventId);
        expect(new Set(ids).size).toBe(ids.length);
        expect(ids.sort()).toEqual([...acknowledged].sort());
      }
    } finally {
      for (const stream of streams) stream.close();
      for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
