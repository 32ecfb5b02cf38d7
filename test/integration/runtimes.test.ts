import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blackBoxSuite } from '../helpers/black-box.js';
import { BLACK_BOX, blackBoxFetchApp } from '../helpers/fetch-hub-app.js';
import { publish } from '../helpers/hub.js';
import { RedisServer, redisAvailable } from '../helpers/redis.js';
import { runtimeAvailable, startOnRuntime } from '../helpers/runtimes.js';
import type { Runtime } from '../helpers/runtimes.js';
import { hmacKey, mint, publisherClaims, subscriberClaims } from '../helpers/tokens.js';

// The hub core, its stores and its handlers on Bun and Deno: the black-box suite against a server
// each runtime runs itself (test/helpers/runtime-server.ts).
const SERVER = 'test/helpers/runtime-server.ts';

async function serveOn(runtime: Runtime, env: Record<string, string> = {}) {
  const server = await startOnRuntime(runtime, SERVER, env, /listening (\d+)/);
  return { base: `http://127.0.0.1:${server.match[1]}`, close: server.stop };
}

let redis: RedisServer | undefined;
const withRedis = redisAvailable('the Redis store on Bun and Deno');
beforeAll(async () => {
  if (withRedis) redis = await RedisServer.start();
});
afterAll(async () => {
  await redis?.stop();
});

for (const runtime of ['bun', 'deno'] as const) {
  describe.runIf(runtimeAvailable(runtime, `the hub on ${runtime}`))(runtime, () => {
    blackBoxSuite(`Fetch handler on ${runtime}`, () => serveOn(runtime));
    // Node's socket takeover needs Node's HTTP internals: elsewhere the handlers write through the
    // response (src/http/sink.ts falls back), with the same behaviour.
    blackBoxSuite(`node:http handlers on ${runtime}`, () => serveOn(runtime, { SERVE: 'node-http' }));
    it(`ssehub/client on ${runtime} receives, and resumes after a cut losing and repeating nothing`, async () => {
      const server = serve({ fetch: blackBoxFetchApp(), port: 0, hostname: '127.0.0.1' }) as Server;
      await new Promise((resolve) => server.once('listening', resolve));
      const hubUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/mercure`;
      const key = hmacKey(BLACK_BOX.secret);
      const publisher = { Authorization: `Bearer ${await mint(key, publisherClaims('*'))}` };
      const env = { HUB_URL: hubUrl, TOKEN: await mint(key, subscriberClaims(['*'])), COUNT: '5' };
      const client = await startOnRuntime(runtime, 'test/helpers/runtime-client.ts', env, /ready/);
      try {
        const exited = new Promise((resolve) => client.child.once('exit', resolve));
        for (let i = 0; i < 5; i++)
          await publish(hubUrl, { topic: 'runtime-client', data: String(i) }, publisher);
        expect(await exited).toBe(0);
        const events = [...client.output().matchAll(/^event \S+ (.*)$/gm)].map((line) => line[1]);
        expect(events).toEqual(['0', '1', '2', '3', '4']);
      } finally {
        await client.stop();
        server.closeAllConnections();
        server.close();
      }
    });
    it(`the SQLite store says clearly that it needs Node on ${runtime}`, async () => {
      const probe = await startOnRuntime(
        runtime,
        'test/helpers/runtime-sqlite.ts',
        {},
        /^(opened|refused: .*)$/m,
      );
      await probe.stop();
      expect(probe.match[1]).toMatch(
        /^refused: StoreOpenError: cannot open .*: the SQLite store needs Node\.js/,
      );
    });
    describe.runIf(withRedis)('Redis store', () => {
      blackBoxSuite(`Fetch handler on ${runtime} with the Redis store`, () =>
        serveOn(runtime, { REDIS_URL: `redis://127.0.0.1:${redis?.port}/${runtime === 'bun' ? 1 : 2}` }),
      );
    });
  });
}
