/**
 * An autocannon-like publisher for the load workers: keep-alive raw sockets, one request in flight
 * on each, the next written as soon as the response is read, for a bounded time and count. A raw
 * socket and a hand-built request keep the load tool's cost per request far below node:http's
 * client, so the server, not the tool, is what runs out first.
 */
import net from 'node:net';
import { clockMs, encodePayload } from './ledger.js';

/** How one system takes a publish. */
export interface PublishTarget {
  /** Request path; `{user}` becomes the chosen user's number. */
  path: string;
  contentType: string;
  /** 'form': a Mercure form, `topic=` (with `{user}` replaced) and `data=`; 'raw': the payload is the body. */
  body: 'form' | 'raw';
  topic?: string;
}

export interface PublishLoadCommand {
  type: 'publish-load';
  port: number;
  target: PublishTarget;
  connections: number;
  durationMs: number;
  maxRequests: number;
  /** Payload phase (the ledger's); each worker uses its own so sequence numbers never collide. */
  phase: number;
  /** Users to pick from at random for `{user}`; 0 when the path and topic name no user. */
  users: number;
  payloadBytes: number;
  localAddress: string;
}

export interface PublishLoadReply {
  type: 'published';
  /** 2xx answers. */
  accepted: number;
  /** Other answers, by status. */
  refused: Record<string, number>;
  errors: number;
  firstError: string | undefined;
  elapsedMs: number;
}

export function publishRequest(target: PublishTarget, host: string, user: number, payload: string): string {
  const path = target.path.replace('{user}', String(user));
  const body =
    target.body === 'form'
      ? `topic=${encodeURIComponent((target.topic ?? '').replace('{user}', String(user)))}&data=${encodeURIComponent(payload)}`
      : payload;
  return (
    `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: ${target.contentType}\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

/**
 * Reads HTTP/1.1 responses off a keep-alive socket, one after another: status, then a
 * `content-length` body or a chunked one. Enough for the short answers publish endpoints give.
 */
export class ResponseReader {
  private buffer = '';

  /** Appends bytes (latin1) and returns the statuses of the responses now complete. */
  push(text: string): number[] {
    this.buffer += text;
    const statuses: number[] = [];
    for (;;) {
      const headEnd = this.buffer.indexOf('\r\n\r\n');
      if (headEnd === -1) return statuses;
      const head = this.buffer.slice(0, headEnd);
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? NaN);
      if (!Number.isFinite(status)) throw new Error(`bad status line: ${JSON.stringify(head.slice(0, 40))}`);
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      let end: number;
      if (length) {
        end = headEnd + 4 + Number(length[1]);
      } else if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
        const last = this.buffer.indexOf('\r\n0\r\n\r\n', headEnd + 2);
        const empty = this.buffer.startsWith('0\r\n\r\n', headEnd + 4);
        if (empty) end = headEnd + 9;
        else if (last !== -1) end = last + 7;
        else return statuses;
      } else {
        end = headEnd + 4; // 204, 304 and friends: no body
      }
      if (this.buffer.length < end) return statuses;
      this.buffer = this.buffer.slice(end);
      statuses.push(status);
    }
  }
}

/** Runs `command.connections` keep-alive publishers until the time or the count runs out. */
export async function runPublishLoad(command: PublishLoadCommand): Promise<PublishLoadReply> {
  const started = clockMs();
  const deadline = started + command.durationMs;
  const host = `127.0.0.1:${command.port}`;
  let sent = 0;
  let seq = 0;
  const reply: PublishLoadReply = {
    type: 'published',
    accepted: 0,
    refused: {},
    errors: 0,
    firstError: undefined,
    elapsedMs: 0,
  };
  const nextRequest = (): string | undefined => {
    if (sent >= command.maxRequests || clockMs() >= deadline) return undefined;
    sent++;
    const user = command.users > 0 ? Math.floor(Math.random() * command.users) : 0;
    const payload = encodePayload(command.phase, seq++, clockMs(), command.payloadBytes);
    return publishRequest(command.target, host, user, payload);
  };
  const connection = (): Promise<void> =>
    new Promise((resolve) => {
      const reader = new ResponseReader();
      const socket = net.connect({
        host: '127.0.0.1',
        port: command.port,
        localAddress: command.localAddress,
      });
      socket.setNoDelay(true);
      socket.setEncoding('latin1');
      const writeNext = (): void => {
        const request = nextRequest();
        if (request === undefined) socket.end();
        else socket.write(request, 'latin1');
      };
      socket.on('connect', writeNext);
      socket.on('data', (text: string) => {
        let statuses: number[];
        try {
          statuses = reader.push(text);
        } catch (error) {
          reply.errors++;
          reply.firstError ??= String(error);
          socket.destroy();
          return;
        }
        for (const status of statuses) {
          if (status >= 200 && status < 300) reply.accepted++;
          else reply.refused[status] = (reply.refused[status] ?? 0) + 1;
          writeNext();
        }
      });
      socket.on('error', (error) => {
        reply.errors++;
        reply.firstError ??= error.message;
      });
      socket.on('close', () => resolve());
    });
  // A connection the server closes (e.g. after a refusal) is not reopened: the count shows it.
  await Promise.all(Array.from({ length: command.connections }, connection));
  reply.elapsedMs = clockMs() - started;
  return reply;
}
