import { request } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestHub, topicUrl } from '../helpers/hub.js';
import type { TestHub } from '../helpers/hub.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

let hub: TestHub | undefined;
afterEach(async () => {
  await hub?.close();
  hub = undefined;
});

/** Opens a stream, waits for its first bytes, then drops the connection. */
function connectAndDrop(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false }, (res) => {
      res.once('data', () => {
        req.destroy();
        resolve();
      });
    });
    req.on('error', (error: NodeJS.ErrnoException) =>
      error.code === 'ECONNRESET' ? resolve() : reject(error),
    );
    req.end();
  });
}

async function churn(test: TestHub, cycles: number, offset: number): Promise<void> {
  const parallel = 50;
  for (let i = 0; i < cycles; i += parallel) {
    await Promise.all(
      Array.from({ length: parallel }, (_, j) =>
        connectAndDrop(topicUrl(test.hubUrl, [`user/${offset + i + j}`, 'shared', 'https://ex.com/{id}'])),
      ),
    );
  }
}

async function settled(test: TestHub): Promise<void> {
  for (let i = 0; i < 100 && test.hub.stats().subscribers > 0; i++)
    await new Promise((r) => setTimeout(r, 20));
}

function activeTimers(): number {
  return process.getActiveResourcesInfo().filter((resource) => resource === 'Timeout').length;
}

function heapUsed(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

describe('churn', () => {
  it('5,000 connect/disconnect cycles leave no subscriber, no index entry, no timer, no heap growth', async () => {
    const test = await startTestHub({ config: { heartbeatMs: 50 } });
    hub = test;
    await churn(test, 500, 0); // warm-up: JIT, pools, caches
    await settled(test);
    const before = heapUsed();
    const timersBefore = activeTimers();
    await churn(test, 5000, 1000);
    await settled(test);
    const after = heapUsed();
    // Counted by Node itself, so a timer created anywhere per connection (hub, HTTP layer) shows.
    expect(activeTimers()).toBeLessThanOrEqual(timersBefore);
    expect(test.hub.stats()).toEqual({
      subscribers: 0,
      indexedSelectors: 0,
      queuedForFlush: 0,
      replaying: 0,
      timers: 1,
    });
    // Each leaked subscriber would hold several KiB (sink, selectors, response); 5,000 of them would show.
    expect(after - before).toBeLessThan(3 * 1024 * 1024);
  });
});
