import { afterEach, describe, expect, it } from 'vitest';
import type { ClaimedWebhook, WebhookQueue, WebhookQueueLimits } from '../../src/store/webhook-queue.js';

/** How one WebhookQueue implementation is created by the shared contract suite. */
export interface WebhookQueueContractTarget {
  name: string;
  /** A fresh, empty queue (its own namespace). Closed by the suite. */
  create(limits?: WebhookQueueLimits): Promise<WebhookQueue>;
  /** A second queue on the same storage as `queue` (another hub), when the implementation shares. */
  sibling?(queue: WebhookQueue, limits?: WebhookQueueLimits): Promise<WebhookQueue>;
  /** The queue as a new process would open it after this one stopped; undefined when nothing survives. */
  reopen?(queue: WebhookQueue): Promise<WebhookQueue>;
}

const ENDPOINT = 'receiver';

function message(n: number, orderKey = 'https://example.com/a') {
  return { id: `msg_${n}`, orderKey, body: JSON.stringify({ n }) };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Claims and acknowledges until the queue is empty; the bodies' `n`, in delivery order. Waits (up
 * to `patienceMs`) for messages that are claimed elsewhere or waiting for their time.
 */
async function drain(queue: WebhookQueue, patienceMs = 0): Promise<number[]> {
  const seen: number[] = [];
  const deadline = Date.now() + patienceMs;
  for (let round = 0; round < 1000; round++) {
    const claimed = await queue.claim(ENDPOINT, 10, 5000);
    if (claimed.length === 0) {
      if ((await queue.depth(ENDPOINT)) === 0 || Date.now() > deadline) break;
      await sleep(50);
      continue;
    }
    for (const item of claimed) {
      seen.push((JSON.parse(item.body) as { n: number }).n);
      expect(await queue.ack(ENDPOINT, item)).toBe(true);
    }
  }
  return seen;
}

/**
 * The WebhookQueue contract (src/store/webhook-queue.ts), run unchanged against every
 * implementation, so that delivery behaves the same whichever store holds the queue.
 */
export function describeWebhookQueueContract(target: WebhookQueueContractTarget): void {
  describe(`WebhookQueue contract: ${target.name}`, () => {
    const open: WebhookQueue[] = [];
    const create = async (limits?: WebhookQueueLimits) => {
      const queue = await target.create(limits);
      open.push(queue);
      return queue;
    };
    afterEach(async () => {
      for (const queue of open.splice(0)) await queue.close();
    });

    it('hands out one message per order key at a time, oldest first, the next after an ack', async () => {
      const queue = await create();
      for (let n = 1; n <= 3; n++) expect(await queue.enqueue(ENDPOINT, message(n))).toBe('queued');
      const [first, ...others] = await queue.claim(ENDPOINT, 10, 5000);
      expect(others).toEqual([]);
      expect(first).toMatchObject({ id: 'msg_1', attempt: 1, orderKey: 'https://example.com/a' });
      expect(first?.body).toBe(JSON.stringify({ n: 1 }));
      expect(await queue.claim(ENDPOINT, 10, 5000)).toEqual([]);
      expect(await queue.ack(ENDPOINT, first as ClaimedWebhook)).toBe(true);
      expect((await queue.claim(ENDPOINT, 10, 5000)).map((m) => m.id)).toEqual(['msg_2']);
      expect(await queue.depth(ENDPOINT)).toBe(2);
    });

    it('lets different order keys and endpoints proceed independently', async () => {
      const queue = await create();
      await queue.enqueue(ENDPOINT, message(1, 'a'));
      await queue.enqueue(ENDPOINT, message(2, 'b'));
      await queue.enqueue('other', message(3, 'a'));
      const claimed = await queue.claim(ENDPOINT, 10, 5000);
      expect(claimed.map((m) => m.id).sort()).toEqual(['msg_1', 'msg_2']);
      expect((await queue.claim('other', 10, 5000)).map((m) => m.id)).toEqual(['msg_3']);
      expect(await queue.claim(ENDPOINT, 10, 5000)).toEqual([]);
    });

    it('claims at most `limit` messages', async () => {
      const queue = await create();
      for (let n = 1; n <= 5; n++) await queue.enqueue(ENDPOINT, message(n, `key-${n}`));
      expect(await queue.claim(ENDPOINT, 2, 5000)).toHaveLength(2);
      expect(await queue.claim(ENDPOINT, 10, 5000)).toHaveLength(3);
    });

    it('keeps a rescheduled message first of its line, not claimable before its delay, counting attempts', async () => {
      const queue = await create();
      await queue.enqueue(ENDPOINT, message(1));
      await queue.enqueue(ENDPOINT, message(2));
      const [first] = await queue.claim(ENDPOINT, 10, 5000);
      expect(await queue.retryLater(ENDPOINT, first as ClaimedWebhook, 300)).toBe(true);
      expect(await queue.claim(ENDPOINT, 10, 5000)).toEqual([]);
      await sleep(400);
      const [again] = await queue.claim(ENDPOINT, 10, 5000);
      expect(again).toMatchObject({ id: 'msg_1', attempt: 2 });
      expect(again?.queuedAt).toBe(first?.queuedAt);
    });

    it('hands a claim that lapsed to the next claimer, and refuses the old claim', async () => {
      const queue = await create();
      await queue.enqueue(ENDPOINT, message(1));
      const [stale] = await queue.claim(ENDPOINT, 10, 200);
      expect(await queue.claim(ENDPOINT, 10, 5000)).toEqual([]);
      await sleep(300);
      const [taken] = await queue.claim(ENDPOINT, 10, 5000);
      expect(taken).toMatchObject({ id: 'msg_1', attempt: 2 });
      expect(await queue.ack(ENDPOINT, stale as ClaimedWebhook)).toBe(false);
      expect(await queue.retryLater(ENDPOINT, stale as ClaimedWebhook, 0)).toBe(false);
      expect(await queue.ack(ENDPOINT, taken as ClaimedWebhook)).toBe(true);
      expect(await queue.depth(ENDPOINT)).toBe(0);
    });

    it('refuses a message id queued again within the dedup window, also after its ack', async () => {
      const queue = await create();
      expect(await queue.enqueue(ENDPOINT, message(1))).toBe('queued');
      expect(await queue.enqueue(ENDPOINT, message(1))).toBe('duplicate');
      expect(await drain(queue)).toEqual([1]);
      expect(await queue.enqueue(ENDPOINT, message(1))).toBe('duplicate');
      expect(await queue.enqueue('other', message(1))).toBe('queued');
    });

    it('forgets ids after the dedup window', async () => {
      const queue = await create({ dedupWindowMs: 200 });
      await queue.enqueue(ENDPOINT, message(1));
      await drain(queue);
      await sleep(300);
      expect(await queue.enqueue(ENDPOINT, message(1))).toBe('queued');
    });

    it('answers `full` past maxQueued per endpoint, storing nothing, and takes more after acks', async () => {
      const queue = await create({ maxQueued: 3 });
      for (let n = 1; n <= 3; n++) expect(await queue.enqueue(ENDPOINT, message(n))).toBe('queued');
      expect(await queue.enqueue(ENDPOINT, message(4))).toBe('full');
      expect(await queue.enqueue('other', message(5))).toBe('queued');
      expect(await queue.depth(ENDPOINT)).toBe(3);
      const [first] = await queue.claim(ENDPOINT, 1, 5000);
      await queue.ack(ENDPOINT, first as ClaimedWebhook);
      expect(await queue.enqueue(ENDPOINT, message(6))).toBe('queued');
      expect(await drain(queue)).toEqual([2, 3, 6]);
    });

    it('delivers every message of many order keys once, each line in order', async () => {
      const queue = await create();
      for (let n = 0; n < 60; n++) await queue.enqueue(ENDPOINT, message(n, `key-${n % 6}`));
      const order = await drain(queue);
      expect([...order].sort((a, b) => a - b)).toEqual(Array.from({ length: 60 }, (_, n) => n));
      for (let key = 0; key < 6; key++) {
        const line = order.filter((n) => n % 6 === key);
        expect(line).toEqual([...line].sort((a, b) => a - b));
      }
    });

    // Only where something survives (the memory queue is documented as not surviving a restart).
    if (target.reopen) {
      const reopen = target.reopen;
      it('keeps what is pending, claimed or not, across a reopen', async () => {
        const queue = await create();
        for (let n = 1; n <= 3; n++) await queue.enqueue(ENDPOINT, message(n));
        await queue.enqueue(ENDPOINT, message(4, 'b'));
        const claimed = await queue.claim(ENDPOINT, 10, 500);
        expect(claimed).toHaveLength(2);
        const reopened = await reopen(queue);
        open.push(reopened);
        // The process that held the claims is gone: they are claimed again (at once, or once the
        // lease lapsed where other hubs may hold claims), so delivery is at least once.
        expect(await reopened.depth(ENDPOINT)).toBe(4);
        const order = await drain(reopened, 3000);
        expect(await reopened.depth(ENDPOINT)).toBe(0);
        expect(order.filter((n) => n !== 4)).toEqual([1, 2, 3]);
        expect(order).toContain(4);
      });
    }

    // Only where hubs share the queue (Redis).
    if (target.sibling) {
      const sibling = target.sibling;
      it('shares one queue between hubs: each message claimed by one of them, queued once', async () => {
        const queue = await create();
        const other = await sibling(queue);
        open.push(other);
        for (let n = 0; n < 40; n++) {
          await queue.enqueue(ENDPOINT, message(n, `key-${n % 4}`));
          expect(await other.enqueue(ENDPOINT, message(n, `key-${n % 4}`))).toBe('duplicate');
        }
        const delivered: number[] = [];
        const work = async (hub: WebhookQueue) => {
          for (let round = 0; round < 200; round++) {
            const claimed = await hub.claim(ENDPOINT, 3, 5000);
            if (claimed.length === 0 && (await hub.depth(ENDPOINT)) === 0) return;
            for (const item of claimed) {
              delivered.push((JSON.parse(item.body) as { n: number }).n);
              await hub.ack(ENDPOINT, item);
            }
          }
        };
        await Promise.all([work(queue), work(other)]);
        expect([...delivered].sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, n) => n));
        for (let key = 0; key < 4; key++) {
          const line = delivered.filter((n) => n % 4 === key);
          expect(line).toEqual([...line].sort((a, b) => a - b));
        }
      });
    }
  });
}
