import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestHub } from '../helpers/hub.js';
import type { TestHub } from '../helpers/hub.js';
import { eventually as waitUntil } from '../helpers/wait.js';

/**
 * TCP keep-alive probes on a stream's connection (readyStreamSocket): only when the hub sends no
 * heartbeats. Heartbeats keep the connection busy, so probes would never go out, and turning them
 * on costs two system calls per connection. Read from the kernel's own table of TCP sockets, where
 * a connection with probes on has its keep-alive timer running (`tr` 2) while it is idle.
 */

const hubs: TestHub[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(hubs.splice(0).map((hub) => hub.close(500)));
});

/** The timer the kernel runs on the hub's end of the connection from `clientPort` (0: none). */
function serverSideTimer(hubPort: number, clientPort: number): number | undefined {
  const hex = (port: number) => port.toString(16).toUpperCase().padStart(4, '0');
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 6) continue;
    const [local, remote, , , timer] = fields.slice(1);
    if (local?.endsWith(`:${hex(hubPort)}`) && remote?.endsWith(`:${hex(clientPort)}`)) {
      return Number.parseInt((timer ?? '').split(':')[0] ?? '', 16);
    }
  }
  return undefined;
}

async function idleStreamTimer(
  heartbeatMs: number | undefined,
  streamLane: boolean,
): Promise<number | undefined> {
  const hub = await startTestHub({ streamLane, config: { demo: false, heartbeatMs } });
  hubs.push(hub);
  const port = Number(new URL(hub.url).port);
  const socket = connect({ host: '127.0.0.1', port });
  sockets.push(socket);
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  socket.once('connect', () =>
    socket.write('GET /.well-known/mercure?topic=t HTTP/1.1\r\nHost: hub.test\r\n\r\n'),
  );
  await waitUntil(() => /\r\n\r\n[0-9a-f]+\r\n:\n/.test(received));
  // Once the head and the opening comment are acknowledged, the connection is idle.
  let timer: number | undefined;
  await waitUntil(() => {
    timer = serverSideTimer(port, socket.localPort as number);
    return timer === 0 || timer === 2;
  });
  return timer;
}

describe.each([true, false])('TCP keep-alive probes on a stream (stream lane: %s)', (streamLane) => {
  it('are on when the hub sends no heartbeats (--heartbeat-ms 0)', async () => {
    expect(await idleStreamTimer(0, streamLane)).toBe(2);
  });

  it('are off when it does: the heartbeats find a vanished peer', async () => {
    expect(await idleStreamTimer(undefined, streamLane)).toBe(0);
  });
});
