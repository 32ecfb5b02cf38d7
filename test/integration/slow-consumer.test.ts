import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { CloseReason } from '../../src/hub/subscriber.js';
import { openStream, publish, startTestHub, topicUrl } from '../helpers/hub.js';
import type { TestHub } from '../helpers/hub.js';
import { watchStreamConnections } from '../helpers/stream-connections.js';

let hub: TestHub | undefined;
afterEach(async () => {
  await hub?.close();
  hub = undefined;
});

/** A subscriber that sends its request, reads the headers, then stops reading its socket. */
function stalledSubscriber(url: string): Promise<Socket> {
  const { hostname, port, pathname, search } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) }, () => {
      socket.write(
        `GET ${pathname}${search} HTTP/1.1\r\nHost: ${hostname}\r\nAccept: text/event-stream\r\n\r\n`,
      );
    });
    socket.once('data', () => {
      socket.pause();
      resolve(socket);
    });
    socket.on('error', () => undefined);
    socket.once('close', () => reject(new Error('closed before headers')));
  });
}

describe('slow consumer (architecture invariant 5)', () => {
  it('is disconnected past its buffer bound while a fast subscriber gets every event on time', async () => {
    const reasons: CloseReason[] = [];
    const maxBufferedBytes = 256 * 1024;
    const test = await startTestHub({
      config: { maxBufferedBytes },
      observer: { unsubscribed: (_subscriber, reason) => reasons.push(reason) },
    });
    hub = test;
    const url = topicUrl(test.hubUrl, ['big']);
    // The socket, not the response: the hub writes to the socket once the head is out.
    const watched = watchStreamConnections(test.server);
    const slow = await stalledSubscriber(url);
    const fast = await openStream(url);
    const payload = 'x'.repeat(64 * 1024);
    const total = 400; // 25 MiB: far more than socket buffers plus the bound
    let slowBacklog = 0;
    for (let i = 0; i < total; i++) {
      const answer = await publish(test.hubUrl, { topic: 'big', data: `${i} ${payload}` });
      expect(answer.status).toBe(200);
      await fast.waitFor(() => fast.events.length === i + 1, 5000, `event ${i} on the fast subscriber`);
      slowBacklog = Math.max(slowBacklog, [...watched.sockets][0]?.writableLength ?? 0);
    }
    // A paused socket does not notice the reset; the hub's own account says why it was dropped.
    expect(reasons).toEqual(['slow']);
    slow.destroy();
    expect(test.hub.stats().subscribers).toBe(1);
    expect(fast.events.map((e) => Number(e.data.split(' ')[0]))).toEqual(
      Array.from({ length: total }, (_, i) => i),
    );
    // Memory held for the slow reader never went past the bound plus one flush (one event here).
    expect(slowBacklog).toBeGreaterThan(0);
    expect(slowBacklog).toBeLessThanOrEqual(maxBufferedBytes + payload.length + 1024);
    fast.destroy();
  });
});
