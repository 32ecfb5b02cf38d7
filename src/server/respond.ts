import type { IncomingMessage, ServerResponse } from 'node:http';
import { endWith } from '../http/end-with.js';
import { HttpError, sendError } from '../http/errors.js';

/** Answers 405 to anything but GET and HEAD on a read-only path; true when it did. */
export function refuseUnlessRead(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.method === 'GET' || req.method === 'HEAD') return false;
  sendError(res, new HttpError(405, `Method ${req.method ?? ''} not allowed here.`, { Allow: 'GET, HEAD' }));
  return true;
}

/** A health probe's answer: its status and one line a person can read. */
export function sendProbe(req: IncomingMessage, res: ServerResponse, status: number, reason: string): void {
  sendText(req, res, status, 'text/plain; charset=utf-8', reason + '\n');
}

export function sendJson(req: IncomingMessage, res: ServerResponse, value: unknown): void {
  sendText(req, res, 200, 'application/json', JSON.stringify(value));
}

/** A small uncached answer to GET (HEAD: its head only). */
export function sendText(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  type: string,
  body: string,
): void {
  if (refuseUnlessRead(req, res)) return;
  res.writeHead(status, {
    'Content-Type': type,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  if (req.method === 'HEAD') res.end();
  else endWith(res, body);
}
