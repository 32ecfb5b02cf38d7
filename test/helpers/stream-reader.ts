import { request } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { EventStreamParser } from '../../src/protocol/parse.js';
import type { ParsedEvent } from '../../src/protocol/parse.js';

export const HUB_PATH = '/.well-known/mercure';

/** An event stream read over a real HTTP/1.1 connection with the project's WHATWG parser. */
export interface StreamReader {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly events: ParsedEvent[];
  /** The stream's last event id (set by data-less blocks too). */
  readonly lastEventId: string;
  /** Resolves when the response ends: `clean` when the server ended it normally. */
  readonly ended: Promise<{ clean: boolean }>;
  waitFor(predicate: (events: ParsedEvent[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): void;
}

export function openStream(
  baseUrl: string,
  topics: readonly string[],
  options: { lastEventId?: string; headers?: Record<string, string> } = {},
): Promise<StreamReader> {
  const query = topics.map((t) => `topic=${encodeURIComponent(t)}`).join('&');
  const headers: Record<string, string> = { Accept: 'text/event-stream', ...options.headers };
  if (options.lastEventId !== undefined) headers['Last-Event-ID'] = options.lastEventId;
  return new Promise((resolve, reject) => {
    const req = request(`${baseUrl}${HUB_PATH}?${query}`, { headers, agent: false });
    req.on('error', reject);
    req.on('response', (res) => {
      const events: ParsedEvent[] = [];
      const waiters = new Set<() => void>();
      const parser = new EventStreamParser({
        onEvent: (event) => {
          events.push(event);
          for (const waiter of [...waiters]) waiter();
        },
      });
      let endedFlag = false;
      const ended = new Promise<{ clean: boolean }>((done) => {
        res.on('close', () => {
          endedFlag = true;
          parser.end();
          for (const waiter of [...waiters]) waiter();
          done({ clean: res.complete });
        });
      });
      res.on('data', (chunk: Buffer) => parser.push(chunk));
      res.on('error', () => undefined);
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        events,
        get lastEventId() {
          return parser.lastEventId;
        },
        ended,
        waitFor: (predicate, timeoutMs = 5000) =>
          new Promise((ok, fail) => {
            const check = () => {
              if (predicate(events)) {
                clearTimeout(timer);
                waiters.delete(check);
                ok();
              } else if (endedFlag) {
                clearTimeout(timer);
                waiters.delete(check);
                fail(new Error(`stream ended before the condition held (${events.length} events)`));
              }
            };
            const timer = setTimeout(() => {
              waiters.delete(check);
              fail(new Error(`timed out after ${timeoutMs} ms with ${events.length} events`));
            }, timeoutMs);
            waiters.add(check);
            check();
          }),
        close: () => req.destroy(),
      });
    });
    req.end();
  });
}

export async function publish(
  baseUrl: string,
  topic: string,
  data: string,
): Promise<{ status: number; body: string }> {
  const response = await fetch(`${baseUrl}${HUB_PATH}`, {
    method: 'POST',
    body: new URLSearchParams({ topic, data }),
  });
  return { status: response.status, body: await response.text() };
}
