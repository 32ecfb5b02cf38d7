import { request } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { createHubServer } from '../../src/server/app.js';
import type { HubServer, HubServerOptions } from '../../src/server/app.js';
import { EventStreamParser } from '../../src/protocol/parse.js';
import type { ParsedEvent } from '../../src/protocol/parse.js';

export interface TestHub extends HubServer {
  url: string;
  hubUrl: string;
}

/** A real hub on a free loopback port. */
export async function startTestHub(options: HubServerOptions = {}): Promise<TestHub> {
  const hubServer = createHubServer({
    ...options,
    config: { port: 0, host: '127.0.0.1', ...options.config },
  });
  const url = await hubServer.listen();
  return Object.assign(hubServer, { url, hubUrl: `${url}/.well-known/mercure` });
}

export interface PublishResult {
  status: number;
  body: string;
  headers: IncomingMessage['headers'];
}

/** Publishes a form over real HTTP. */
export function publish(
  hubUrl: string,
  fields: Record<string, string | readonly string[]>,
  headers: Record<string, string> = {},
): Promise<PublishResult> {
  const form = new URLSearchParams();
  for (const [name, value] of Object.entries(fields)) {
    for (const item of typeof value === 'string' ? [value] : value) form.append(name, item);
  }
  return rawRequest(hubUrl, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
    body: form.toString(),
  });
}

export function rawRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<PublishResult> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          body: Buffer.concat(chunks).toString('utf8'),
          headers: res.headers,
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

export interface RawStream {
  response: IncomingMessage;
  events: ParsedEvent[];
  comments: string[];
  retries: number[];
  /** Every byte received, as text. */
  text(): string;
  lastEventId(): string;
  /** Resolves once `predicate` holds, checking after every chunk; rejects after `timeoutMs`. */
  waitFor(predicate: () => boolean, timeoutMs?: number, what?: string): Promise<void>;
  /** Drops the TCP connection abruptly, as a network failure would. */
  destroy(): void;
  closed: Promise<void>;
}

/** Subscribes with a raw HTTP request and parses the stream with the project's parser. */
export function openStream(url: string, headers: Record<string, string> = {}): Promise<RawStream> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { Accept: 'text/event-stream', ...headers } }, (response) => {
      const events: ParsedEvent[] = [];
      const comments: string[] = [];
      const retries: number[] = [];
      const waiters = new Set<() => void>();
      let received = '';
      const parser = new EventStreamParser({
        onEvent: (event) => events.push(event),
        onComment: (comment) => comments.push(comment),
        onRetry: (ms) => retries.push(ms),
      });
      response.on('data', (chunk: Buffer) => {
        received += chunk.toString('utf8');
        parser.push(chunk);
        for (const waiter of [...waiters]) waiter();
      });
      const closed = new Promise<void>((done) => {
        response.on('close', () => {
          for (const waiter of [...waiters]) waiter();
          done();
        });
        response.on('error', () => done());
      });
      resolve({
        response,
        events,
        comments,
        retries,
        text: () => received,
        lastEventId: () => parser.lastEventId,
        waitFor(predicate, timeoutMs = 10_000, what = 'condition') {
          if (predicate()) return Promise.resolve();
          return new Promise((done, fail) => {
            const timer = setTimeout(() => {
              waiters.delete(check);
              fail(
                new Error(`timed out after ${timeoutMs} ms waiting for ${what}; got ${events.length} events`),
              );
            }, timeoutMs);
            const check = () => {
              if (!predicate()) return;
              clearTimeout(timer);
              waiters.delete(check);
              done();
            };
            waiters.add(check);
          });
        },
        destroy: () => req.destroy(),
        closed,
      });
    });
    req.on('error', reject);
    req.end();
  });
}

export function topicUrl(
  hubUrl: string,
  topics: readonly string[],
  extra: Record<string, string> = {},
): string {
  const query = new URLSearchParams();
  for (const topic of topics) query.append('topic', topic);
  for (const [name, value] of Object.entries(extra)) query.append(name, value);
  return `${hubUrl}?${query.toString()}`;
}

/** How many subscriptions the hub holds now, as its `/status` page reports them. */
export async function hubSubscriptions(hub: TestHub): Promise<number> {
  const status = JSON.parse((await rawRequest(`${hub.url}/status`)).body) as { subscriptions: number };
  return status.subscriptions;
}

export const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
