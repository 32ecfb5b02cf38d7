import { STATUS_CODES, validateHeaderValue } from 'node:http';
import { refusalAnswer } from './errors.js';
import type { HttpError } from './errors.js';

/**
 * HTTP/1.1 answers written straight to a socket, for connections no `ServerResponse` serves (the
 * standalone hub's stream lane). They read as `node:http` writes its own: the same status line, the
 * given headers in order, then `Date`, the connection's keep-alive and the body's framing.
 */

/**
 * The status line, `lines` (header lines, each ending in CRLF, as `headerLines` makes them), then
 * `Date` and, unless the answer closes the connection, its keep-alive: a head without its last CRLF.
 */
export function headFromLines(
  status: number,
  lines: string,
  closes: boolean,
  keepAliveTimeoutMs: number,
): string {
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n${lines}Date: ${httpDate()}\r\n`;
  if (!closes) {
    head += 'Connection: keep-alive\r\n';
    if (keepAliveTimeoutMs > 0) head += `Keep-Alive: timeout=${Math.floor(keepAliveTimeoutMs / 1000)}\r\n`;
  }
  return head;
}

/** Header lines, each ending in CRLF, checked as `writeHead` checks them. */
export function headerLines(headers: Readonly<Record<string, string>>): string {
  let lines = '';
  for (const name in headers) {
    const value = headers[name] as string;
    // As writeHead would: a value with a line break or a control character must not reach the wire.
    validateHeaderValue(name, value);
    lines += `${name}: ${value}\r\n`;
  }
  return lines;
}

/** The head of an event stream's answer: 200, `headers` then `extra`, its body chunked until the stream ends. */
export function streamHead(
  headers: Readonly<Record<string, string>>,
  extra: Readonly<Record<string, string>>,
  keepAliveTimeoutMs: number,
): string {
  // Two header sets written one after the other, rather than merged: a merge (an object spread
  // with more fields after it) costs more than the rest of the head.
  const lines = headerLines(headers) + headerLines(extra);
  return `${headFromLines(200, lines, false, keepAliveTimeoutMs)}Transfer-Encoding: chunked\r\n\r\n`;
}

/** A refusal as every adapter answers it (`refusalAnswer`), and whether the connection closes after it. */
export function errorAnswer(
  error: HttpError,
  extra: Readonly<Record<string, string>>,
  keepAliveTimeoutMs: number,
): { bytes: Buffer | string; closes: boolean } {
  const { body, headers } = refusalAnswer(error, extra);
  const closes = closesConnection(headers);
  const head = headFromLines(error.status, headerLines(headers), closes, keepAliveTimeoutMs);
  return { bytes: answerBytes(`${head}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n`, body), closes };
}

/**
 * An answer's bytes: its head in Latin-1, as Node writes heads, and its body in UTF-8 (one string
 * in either encoding would garble a body or a head that is not ASCII). A string is Latin-1 text,
 * for `socket.write(answer, 'latin1')`: what an ASCII body (an event's id, nearly always) needs.
 */
export function answerBytes(head: string, body: string): Buffer | string {
  const bodyBytes = Buffer.byteLength(body);
  if (bodyBytes === body.length) return head + body;
  const bytes = Buffer.allocUnsafe(head.length + bodyBytes);
  bytes.write(head, 0, 'latin1');
  bytes.write(body, head.length, 'utf8');
  return bytes;
}

/** Whether the headers say `Connection: close` (Node then ends the connection after the answer). */
function closesConnection(headers: Readonly<Record<string, string>>): boolean {
  for (const name in headers) {
    if (name.toLowerCase() === 'connection') return /\bclose\b/i.test(headers[name] as string);
  }
  return false;
}

let dateSecond = -1;
let dateText = '';

/** The `Date` header's value, made once a second as Node does. */
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(now).toUTCString();
  }
  return dateText;
}
