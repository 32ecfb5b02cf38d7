import net from 'node:net';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { StreamSocketSink } from '../../src/http/sink.js';
import { eventually } from '../helpers/wait.js';

const FRAME = Buffer.from('id: 0-1\ndata: x\n\n');

let server: net.Server | undefined;
afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

/**
 * A stream socket whose peer has reset, and the hub not told yet: the server socket does not read
 * (as between the reset and the poll that would notice it), so only a write can find out.
 */
async function socketWhosePeerReset(): Promise<Socket> {
  const accepted = new Promise<Socket>((resolve) => {
    server = net.createServer({ pauseOnConnect: true }, resolve);
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const port = (server?.address() as net.AddressInfo).port;
  const client = net.connect({ host: '127.0.0.1', port });
  await new Promise((resolve) => client.once('connect', resolve));
  const socket = await accepted;
  client.resetAndDestroy();
  await new Promise((resolve) => setTimeout(resolve, 50));
  return socket;
}

function firstError(socket: Socket): Promise<NodeJS.ErrnoException> {
  return new Promise((resolve) => socket.once('error', resolve));
}

describe('writes to a stream whose peer reset', () => {
  it.each([
    ['one write', (sink: StreamSocketSink) => sink.write(FRAME)],
    [
      'a corked batch',
      (sink: StreamSocketSink) => {
        sink.cork();
        sink.write(FRAME);
        sink.write(FRAME);
        sink.uncork();
      },
    ],
  ])(
    '%s fails without capturing a stack, leaves the stack limit as it was, and closes the stream',
    async (_, write) => {
      const socket = await socketWhosePeerReset();
      let closed = 0;
      const sink = new StreamSocketSink(socket, () => closed++, true);
      const failed = firstError(socket);
      const limit = Error.stackTraceLimit;
      write(sink);
      expect(Error.stackTraceLimit).toBe(limit);
      const error = await failed;
      expect(['EPIPE', 'ECONNRESET']).toContain(error.code);
      // The message only: no "    at …" frame was captured.
      expect(error.stack).toBe(`Error: ${error.message}`);
      await eventually(() => closed === 1, 2000, 'the stream closed');
      // An error raised elsewhere still has its stack.
      expect(new Error('elsewhere').stack).toMatch(/\n\s+at /);
    },
  );
});
