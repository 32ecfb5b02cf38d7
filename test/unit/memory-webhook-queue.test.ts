import { describe, expect, it } from 'vitest';
import { MemoryWebhookQueue } from '../../src/store/webhook-queue.js';

describe('MemoryWebhookQueue', () => {
  it('remembers ids against a second enqueue within the window, but at most maxQueued of them', async () => {
    const queue = new MemoryWebhookQueue({ maxQueued: 5, dedupWindowMs: 3_600_000 });
    const message = (n: number) => ({ id: `msg_${n}`, orderKey: 'https://example.com/t', body: '{}' });
    const deliverAll = async () => {
      for (;;) {
        const [claimed] = await queue.claim('backend', 1, 1000);
        if (!claimed) return;
        await queue.ack('backend', claimed);
      }
    };
    expect(await queue.enqueue('backend', message(0))).toBe('queued');
    expect(await queue.enqueue('backend', message(0))).toBe('duplicate');
    await deliverAll();
    expect(await queue.enqueue('backend', message(0))).toBe('duplicate');
    // Delivered messages' ids would otherwise pile up for the whole window at the publish rate.
    for (let n = 1; n <= 5; n++) expect(await queue.enqueue('backend', message(n))).toBe('queued');
    await deliverAll();
    expect(await queue.enqueue('backend', message(0))).toBe('queued');
    expect(await queue.enqueue('backend', message(5))).toBe('duplicate');
  });
});
