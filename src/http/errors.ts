import type { ServerResponse } from 'node:http';

/** An HTTP answer other than success: a status, a one-line reason, and optional headers. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** Answers with the status and a single line of plain text saying why. */
export function sendError(res: ServerResponse, error: HttpError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = error.message.replace(/[\r\n]+/g, ' ') + '\n';
  const headers = { ...error.headers };
  // HTTP/2 (Node's compatibility response has a `stream`) forbids connection-specific headers.
  if ('stream' in res) delete headers.Connection;
  res.writeHead(error.status, {
    ...headers,
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  res.end(body);
}
