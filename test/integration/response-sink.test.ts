import { createServer } from 'node:http';
import type { Server } from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ResponseSink } from '../../src/http/sink.js';
import { eventually } from '../helpers/wait.js';

// Frames as the hub shares them: the same Buffer goes to every subscriber and may be written twice.
const FIRST = Buffer.from(':\nid: 0-0\nretry: 3000\n\n');
const SECOND = Buffer.from('id: 0-1\ndata: ünïcode\n\n');
const THIRD = Buffer.from('id: 0-2\ndata: third\n\n');

const chunk = (frame: Buffer): string => `${frame.length.toString(16)}\r\n${frame.toString('latin1')}\r\n`;

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

/** A stream written only through ResponseSink: a frame, a corked pair, the first frame again, end. */
async function startStreamServer(): Promise<number> {
  server = createServer((req, res) => {
    if (req.url === '/ping') {
      res.end('pong');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const sink = new ResponseSink(req, res, () => undefined);
    sink.write(FIRST);
    setTimeout(() => {
      sink.cork?.();
      sink.write(SECOND);
      sink.write(THIRD);
      sink.uncork?.();
      expect(sink.bufferedBytes).toBeGreaterThanOrEqual(0);
      setTimeout(() => {
        sink.write(FIRST);
        sink.end();
      }, 5);
    }, 5);
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  return (server?.address() as net.AddressInfo).port;
}

/** Sends raw requests on one connection and collects bytes until `done` says the reply is complete. */
function exchange(port: number, request: string, done: (received: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    let received = '';
    const socket = net.connect({ host: '127.0.0.1', port }, () => socket.write(request));
    socket.setEncoding('latin1');
    socket.on('data', (text: string) => {
      received += text;
      if (done(received)) {
        socket.destroy();
        resolve(received);
      }
    });
    socket.on('close', () => resolve(received));
    socket.on('error', reject);
  });
}

describe('ResponseSink', () => {
  it('frames every write as one HTTP/1.1 chunk, ends with the last chunk, and hands the connection back', async () => {
    const port = await startStreamServer();
    const socket = net.connect({ host: '127.0.0.1', port });
    let received = '';
    socket.setEncoding('latin1');
    socket.on('data', (text: string) => (received += text));
    socket.write('GET /stream HTTP/1.1\r\nHost: x\r\n\r\n');
    const body = chunk(FIRST) + chunk(SECOND) + chunk(THIRD) + chunk(FIRST) + '0\r\n\r\n';
    await eventually(() => received.endsWith(body));
    const [head] = received.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(head).toMatch(/transfer-encoding: chunked/i);
    expect(received.slice(received.indexOf('\r\n\r\n') + 4)).toBe(body);
    // The stream took the socket from node:http (nothing pipelined behind it) and gave it back.
    socket.write('GET /ping HTTP/1.1\r\nHost: x\r\n\r\n');
    await eventually(() => received.endsWith('pong') || received.endsWith('4\r\npong\r\n0\r\n\r\n'));
    socket.destroy();
  });

  // A request pipelined behind the stream is already parsed when the head goes out: the socket
  // stays with node:http, which answers it once the stream has ended.
  it('with a request pipelined behind the stream: same framing, and the connection stays usable', async () => {
    const port = await startStreamServer();
    const received = await exchange(
      port,
      'GET /stream HTTP/1.1\r\nHost: x\r\n\r\nGET /ping HTTP/1.1\r\nHost: x\r\n\r\n',
      (text) => text.endsWith('pong'),
    );
    const [head, ...rest] = received.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(head).toMatch(/transfer-encoding: chunked/i);
    const body = rest.join('\r\n\r\n');
    const expectedBody = chunk(FIRST) + chunk(SECOND) + chunk(THIRD) + chunk(FIRST) + '0\r\n\r\n';
    expect(body.startsWith(expectedBody)).toBe(true);
    // The pipelined second request is answered on the same connection: the stream's framing was exact.
    expect(body.slice(expectedBody.length)).toMatch(
      /^HTTP\/1\.1 200 OK[\s\S]*\r\n\r\n(4\r\npong\r\n0\r\n\r\n|pong)$/,
    );
  });

  it('writes frames unframed to an HTTP/1.0 client and closes the connection at the end', async () => {
    const port = await startStreamServer();
    const received = await exchange(port, 'GET /stream HTTP/1.0\r\n\r\n', () => false);
    const [head, ...rest] = received.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(head).not.toMatch(/transfer-encoding/i);
    expect(rest.join('\r\n\r\n')).toBe(Buffer.concat([FIRST, SECOND, THIRD, FIRST]).toString('latin1'));
  });
});
