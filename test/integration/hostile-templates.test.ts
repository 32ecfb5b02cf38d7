import { afterEach, describe, expect, it } from 'vitest';
import { HubProcess } from '../helpers/hub-process.js';
import { openStream, publish, rawRequest, topicUrl } from '../helpers/hub.js';
import type { RawStream } from '../helpers/hub.js';

/**
 * Issue 11, defect 1: a subscriber's URI template was compiled to a backtracking regular
 * expression, so one subscription could freeze the hub on the next publish. The hub runs as its own
 * process here, so a frozen hub fails this test by its timeouts instead of freezing the test.
 */
let hub: HubProcess | undefined;
const streams: RawStream[] = [];
afterEach(async () => {
  for (const stream of streams.splice(0)) stream.destroy();
  await hub?.kill('SIGKILL');
  hub = undefined;
});

/** Resolves with the elapsed milliseconds, or rejects once `limitMs` has passed. */
async function timed<T>(limitMs: number, what: string, work: Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${limitMs} ms`)), limitMs);
  });
  try {
    const value = await Promise.race([work, late]);
    return { value, ms: performance.now() - started };
  } finally {
    clearTimeout(timer);
  }
}

describe('hostile topic templates', () => {
  it('a subscription with ambiguous templates neither slows publishing nor freezes /healthz', async () => {
    hub = await HubProcess.start([]);
    const templates = ['{+x}'.repeat(8) + 'z', '{.a}', '{+x}{.a}{/a}{;a}{&a}{?a}'.repeat(80) + 'z'];
    const hostile = await openStream(topicUrl(hub.hubUrl, templates));
    expect(hostile.response.statusCode).toBe(200);
    streams.push(hostile);

    for (const topic of ['.'.repeat(2040) + '!', 'a'.repeat(2040) + '!', './;&?,'.repeat(340) + '!']) {
      const sent = publish(hub.hubUrl, { topic, data: 'x' });
      const health = rawRequest(`${hub.url}/healthz`);
      const [published, healthy] = await Promise.all([
        timed(5000, 'publish', sent),
        timed(5000, '/healthz', health),
      ]);
      expect(published.value.status).toBe(200);
      expect(healthy.value.status).toBe(200);
      // Generous for a loaded machine; the backtracking matcher took seconds to hours here.
      expect(Math.max(published.ms, healthy.ms)).toBeLessThan(2000);
    }

    // The templates still match what they expand to.
    const matching = await publish(hub.hubUrl, { topic: 'abc/def.z', data: 'for the template' });
    await hostile.waitFor(() => hostile.events.some((event) => event.lastEventId === matching.body), 5000);
    expect(hostile.events.map((event) => event.data)).toEqual(['for the template']);
  });
});
