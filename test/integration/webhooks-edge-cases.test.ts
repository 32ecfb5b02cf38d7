import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
import { Hub } from '../../src/hub/hub.js';
import { MemoryStore } from '../../src/store/memory.js';
import { MemoryWebhookQueue } from '../../src/store/webhook-queue.js';
import type { ClaimedWebhook } from '../../src/store/webhook-queue.js';
import { createWebhooks } from '../../src/webhooks/webhooks.js';
import type { Webhooks, WebhooksOptions } from '../../src/webhooks/webhooks.js';
import { eventually } from '../helpers/wait.js';
import { newSecret } from '../helpers/webhook-receiver.js';

const TOPIC = 'https://example.com/rooms/1';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

/** A receiver written by hand on a raw server: what it answers is up to the test. */
async function rawReceiver(
  handle: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ url: string; requests: number; openResponses: number }> {
  const sockets = new Set<Socket>();
  const state = { url: '', requests: 0, openResponses: 0 };
  const server: Server = createServer((req, res) => {
    state.requests++;
    state.openResponses++;
    res.on('close', () => state.openResponses--);
    req.resume();
    req.on('end', () => handle(req, res));
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  cleanup.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return state;
}

function attached(options: Omit<WebhooksOptions, 'endpoints'> & { url: string }): {
  hub: Hub;
  webhooks: Webhooks;
} {
  const hub = new Hub({ store: new MemoryStore(), heartbeatIntervalMs: 0 });
  const { url, ...rest } = options;
  const webhooks = createWebhooks(hub, {
    endpoints: [{ url, secret: newSecret(), events: ['update.published'], name: 'r' }],
    retryBaseMs: 20,
    retryMaxMs: 50,
    ...rest,
  });
  cleanup.push(() => hub.close());
  cleanup.push(() => webhooks.close());
  return { hub, webhooks };
}

/** Writes 16 KiB every few ms until the request's socket closes. */
function endlessBody(res: ServerResponse): void {
  const chunk = Buffer.alloc(16 * 1024, 'x');
  const timer = setInterval(() => res.write(chunk), 5);
  res.on('close', () => clearInterval(timer));
}

describe('receivers that answer badly', () => {
  test('a 2xx with an endless body is delivered, and its connection is closed, not read forever', async () => {
    const target = await rawReceiver((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      endlessBody(res);
    });
    const { hub, webhooks } = attached({ url: target.url, timeoutMs: 60_000 });
    await hub.publish({ topics: [TOPIC], data: 'a' });
    await hub.publish({ topics: [TOPIC], data: 'b' });
    await eventually(async () => (await webhooks.depth('r')) === 0, 10_000, 'both delivered');
    expect(target.requests).toBe(2);
    // The hub stopped reading each body: the receiver's responses were closed under it.
    await eventually(() => target.openResponses === 0, 5000, 'responses closed by the hub');
  });

  test('a 5xx with an endless body is retried, and no connection is held', async () => {
    const target = await rawReceiver((_req, res) => {
      if (target.requests >= 3) return void res.writeHead(204).end();
      res.writeHead(503);
      endlessBody(res);
    });
    const { hub, webhooks } = attached({ url: target.url, timeoutMs: 60_000 });
    await hub.publish({ topics: [TOPIC], data: 'a' });
    await eventually(async () => (await webhooks.depth('r')) === 0, 10_000, 'delivered on the third try');
    expect(target.requests).toBe(3);
    await eventually(() => target.openResponses === 0, 5000, 'failed attempts hold no response open');
  });

  test('headers that never come are a timeout, and close() mid-request returns promptly', async () => {
    const target = await rawReceiver(() => undefined);
    const timedOut = attached({ url: target.url, timeoutMs: 200 });
    await timedOut.hub.publish({ topics: [TOPIC], data: 'a' });
    await eventually(() => target.requests >= 2, 10_000, 'a retry after the timeout');
    await timedOut.webhooks.close();
    const before = target.requests;
    // With a timeout far past the test's own, close() returns only if it abandons the request.
    const { hub, webhooks } = attached({ url: target.url, timeoutMs: 3_600_000 });
    await hub.publish({ topics: [TOPIC], data: 'b' });
    await eventually(() => target.requests > before, 10_000, 'the request in flight');
    await webhooks.close();
    await eventually(() => target.openResponses === 0, 5000, 'the abandoned request closed');
  });
});

/** A memory queue whose next claim waits until `release()`, recording each operation after close. */
class GatedQueue extends MemoryWebhookQueue {
  closed = false;
  readonly afterClose: string[] = [];
  claimWaiting: Promise<void> | undefined;
  private open: (() => void) | undefined;
  private gate: Promise<void> | undefined;

  hold(): void {
    this.gate = new Promise((resolve) => (this.open = resolve));
  }

  release(): void {
    this.open?.();
  }

  override async claim(endpoint: string, limit: number, leaseMs: number): Promise<ClaimedWebhook[]> {
    const gate = this.gate;
    if (gate) {
      this.gate = undefined;
      this.claimWaiting = Promise.resolve();
      await gate;
    }
    if (this.closed) this.afterClose.push('claim');
    return super.claim(endpoint, limit, leaseMs);
  }

  override retryLater(endpoint: string, message: ClaimedWebhook, delayMs: number): Promise<boolean> {
    if (this.closed) this.afterClose.push('retryLater');
    return super.retryLater(endpoint, message, delayMs);
  }

  override ack(endpoint: string, message: ClaimedWebhook): Promise<boolean> {
    if (this.closed) this.afterClose.push('ack');
    return super.ack(endpoint, message);
  }

  override close(): Promise<void> {
    this.closed = true;
    return super.close();
  }
}

describe('shutdown', () => {
  test('close() during a claim waits for it and hands the claimed message back before closing the queue', async () => {
    const target = await rawReceiver((_req, res) => void res.writeHead(204).end());
    const queue = new GatedQueue();
    queue.hold();
    const { hub, webhooks } = attached({ url: target.url, queue });
    await hub.publish({ topics: [TOPIC], data: 'a' });
    await eventually(() => queue.claimWaiting !== undefined, 5000, 'a claim waiting');
    const closing = webhooks.close();
    queue.release();
    await closing;
    expect(queue.afterClose).toEqual([]);
    // Back in the queue, claimable at once by the next life (not leased to the one that stopped).
    expect((await queue.claim('r', 10, 1000)).map((message) => message.attempt)).toEqual([2]);
    expect(target.requests).toBe(0);
  });
});
