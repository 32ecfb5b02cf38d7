import { Writable } from 'node:stream';
import { afterEach, describe, expect, test } from 'vitest';
import { createLogger } from '../../../src/ops/logger.js';
import { startTestHub } from '../../helpers/hub.js';
import type { TestHub } from '../../helpers/hub.js';
import { scrape } from '../../helpers/metrics.js';
import { eventually } from '../../helpers/wait.js';
import { WebhookReceiver, newSecret } from '../../helpers/webhook-receiver.js';

/** A pino destination keeping each JSON line, and the raw text (to search for secrets). */
function memoryDestination(): { lines: Record<string, unknown>[]; text: () => string; stream: Writable } {
  const lines: Record<string, unknown>[] = [];
  let raw = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      raw += chunk.toString();
      for (const line of chunk.toString().split('\n'))
        if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, text: () => raw, stream };
}

const running: (TestHub | WebhookReceiver)[] = [];
afterEach(async () => {
  for (const part of running.splice(0))
    await (part instanceof WebhookReceiver ? part.stop() : part.close(1000));
});

describe('a bounded webhook queue', () => {
  test('drops what does not fit, with a warning line and a counter; never logs or shows the secret', async () => {
    const target = await WebhookReceiver.start();
    running.push(target);
    target.answer = () => 'hang';
    const secret = newSecret();
    const { lines, text, stream } = memoryDestination();
    const hub = await startTestHub({
      logger: createLogger({ level: 'debug', pretty: false, destination: stream }),
      config: {
        store: 'memory',
        webhooks: {
          endpoints: [{ url: target.url, secret, events: ['update.published'], name: 'backend' }],
          maxQueued: 5,
          timeoutMs: 60_000,
        },
      },
    });
    running.push(hub);
    for (let n = 0; n < 20; n++)
      await hub.hub.publish({ topics: ['https://example.com/a'], data: String(n) });

    await eventually(
      async () =>
        (await scrape(hub.url)).get('ssehub_webhooks_dropped_total{endpoint="backend",reason="full"}') === 15,
      10_000,
      '15 dropped',
    );
    const metrics = await scrape(hub.url);
    expect(metrics.get('ssehub_webhook_queue_depth{endpoint="backend"}')).toBe(5);
    expect(metrics.get('ssehub_webhooks_delivered_total{endpoint="backend"}')).toBe(0);
    const warnings = lines.filter(
      (line) => line.msg === 'webhook queue full: new messages are dropped until the endpoint catches up',
    );
    // One line, not fifteen: a full queue is logged at most every few seconds per endpoint.
    expect(warnings).toEqual([
      expect.objectContaining({
        level: 'warn',
        endpoint: 'backend',
        reason: 'full',
        dropped: 1,
        type: 'update.published',
      }),
    ]);
    const status = await (await fetch(`${hub.url}/status`)).text();
    const key = secret.slice('whsec_'.length);
    expect(text()).not.toContain(key);
    expect(status).not.toContain(key);
    expect(await (await fetch(`${hub.url}/metrics`)).text()).not.toContain(key);
  });
});
