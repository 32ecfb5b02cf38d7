import type { IncomingMessage } from 'node:http';
import { HttpError } from './errors.js';

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/** Reads a request body up to `maxBytes`; a larger one is refused with 413 before it is buffered. */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) {
    return Promise.reject(tooLarge(maxBytes));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    req.on('data', (chunk: Buffer) => {
      if (settled) return;
      size += chunk.length;
      if (size > maxBytes) {
        settled = true;
        chunks.length = 0;
        reject(tooLarge(maxBytes));
        return;
      }
      chunks.push(chunk);
    });
    // Over HTTP/2 a stream reset by the client still ends its request stream: without this check a
    // truncated body would be taken as the whole one.
    const abandoned = () => {
      if (settled) return;
      settled = true;
      reject(new HttpError(400, 'Request body incomplete: the client abandoned the request.'));
    };
    req.on('aborted', abandoned);
    req.on('end', () => {
      if ((req as { aborted?: boolean }).aborted) return abandoned();
      if (settled) return;
      settled = true;
      resolve(Buffer.concat(chunks, size));
    });
    req.on('error', (error) => {
      if (settled) return;
      settled = true;
      reject(error);
    });
  });
}

function tooLarge(maxBytes: number): HttpError {
  return new HttpError(413, `Request body too large: at most ${maxBytes} bytes.`, { Connection: 'close' });
}
