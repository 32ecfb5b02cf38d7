import { createServer } from 'node:http';
import type { Server, ServerResponse } from 'node:http';
import net from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { endWith } from '../../src/http/end-with.js';

/** Counts the socket writes Node makes for each answer: `_write` (one buffer) and `_writev` (several). */
function countWrites(socket: Socket): { single: number; vector: number } {
  const counts = { single: 0, vector: 0 };
  type Write = (...args: unknown[]) => unknown;
  const writable = socket as unknown as { _write: Write; _writev: Write };
  const single = writable._write.bind(socket);
  const vector = writable._writev.bind(socket);
  writable._write = (...args: unknown[]) => {
    counts.single++;
    return single(...args);
  };
  writable._writev = (...args: unknown[]) => {
    counts.vector++;
    return vector(...args);
  };
  return counts;
}

let server: Server | undefined;
afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

function serve(
  answer: (res: ServerResponse, path: string) => void,
): Promise<{ port: number; writes: { single: number; vector: number }[] }> {
  const writes: { single: number; vector: number }[] = [];
  server = createServer((req, res) => answer(res, req.url ?? '/'));
  server.on('connection', (socket: Socket) => writes.push(countWrites(socket)));
  return new Promise((resolve) =>
    server!.listen(0, '127.0.0.1', () => resolve({ port: (server!.address() as AddressInfo).port, writes })),
  );
}

/** Sends raw requests on one connection and reads until `answers` complete answers have arrived. */
function exchange(port: number, requests: string, answers: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(requests));
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (text.split('HTTP/1.1 ').length - 1 === answers && text.endsWith('\n')) {
        socket.destroy();
        resolve(text);
      }
    });
    socket.on('error', reject);
  });
}

function answerWithBody(res: ServerResponse, path: string): void {
  const body = `answer to ${path}\n`;
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': String(Buffer.byteLength(body)) });
  endWith(res, body);
}

describe('endWith: a whole answer in one write', () => {
  it('writes an HTTP/1.1 answer, head and body, with one plain socket write', async () => {
    const { port, writes } = await serve(answerWithBody);
    const text = await exchange(port, 'GET /a HTTP/1.1\r\nHost: x\r\n\r\n', 1);
    expect(text).toMatch(
      /^HTTP\/1\.1 200 OK\r\n[\s\S]*Content-Length: 13\r\n[\s\S]*\r\n\r\nanswer to \/a\n$/,
    );
    expect(writes[0]).toEqual({ single: 1, vector: 0 });
  });

  it('res.end(body), which it replaces, writes a vector of two (the mechanism it avoids)', async () => {
    const { port, writes } = await serve((res, path) => {
      const body = `answer to ${path}\n`;
      res.writeHead(200, { 'Content-Length': String(Buffer.byteLength(body)) });
      res.end(body);
    });
    await exchange(port, 'GET /a HTTP/1.1\r\nHost: x\r\n\r\n', 1);
    expect(writes[0]?.vector).toBe(1);
  });

  it('keeps pipelined answers whole and in order, and sends no body to HEAD', async () => {
    const { port } = await serve(answerWithBody);
    const text = await exchange(
      port,
      'GET /1 HTTP/1.1\r\nHost: x\r\n\r\nHEAD /2 HTTP/1.1\r\nHost: x\r\n\r\nGET /3 HTTP/1.1\r\nHost: x\r\n\r\n',
      3,
    );
    const bodies = text.split(/HTTP\/1\.1 200 OK\r\n[^]*?\r\n\r\n/).slice(1);
    expect(bodies).toEqual(['answer to /1\n', '', 'answer to /3\n']);
  });
});
