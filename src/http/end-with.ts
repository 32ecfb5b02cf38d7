import type { ServerResponse } from 'node:http';

/**
 * Ends a response whose head is set (with its `Content-Length`) with `body`, in one socket write.
 *
 * Why not `res.end(body)`: Node corks the socket for it and queues an empty write behind the body,
 * so the uncork writes a vector of two. Measured on a publish (a head and a 45-byte id), that costs
 * about 1 µs more than one plain write, a tenth of what node:http spends on the whole request. Over
 * HTTP/1 the body is written, the socket uncorked (a write's cork is only meant to last this tick)
 * and the response ended with nothing left to write. Anything else (HTTP/2, a response not yet on
 * its socket because an earlier pipelined one is still open) takes `res.end(body)`.
 */
export function endWith(res: ServerResponse, body: string): void {
  const socket = res.socket;
  if (socket === null || res.req?.httpVersionMajor !== 1 || 'stream' in res) {
    res.end(body);
    return;
  }
  res.write(body);
  socket.uncork();
  res.end();
}
