import { createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import { eventually } from './wait.js';

export interface RecordedRequest {
  url: string;
  headers: IncomingHttpHeaders;
}

export type Route = (req: IncomingMessage, res: ServerResponse, index: number) => void;

/**
 * A tiny SSE fixture server on 127.0.0.1 (modelled on WPT's message.py / status-error.py and the
 * eventsource package's /counter): each test supplies the route, the server records every request.
 */
export class FixtureServer {
  readonly requests: RecordedRequest[] = [];
  private readonly server: Server;
  private route: Route = (_req, res) => res.writeHead(404).end();

  private constructor() {
    this.server = createServer((req, res) => {
      const index = this.requests.length;
      this.requests.push({ url: req.url ?? '', headers: req.headers });
      this.route(req, res, index);
    });
  }

  static async start(): Promise<FixtureServer> {
    const fixture = new FixtureServer();
    await new Promise<void>((resolve) => fixture.server.listen(0, '127.0.0.1', resolve));
    return fixture;
  }

  get url(): string {
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('fixture not listening');
    return `http://127.0.0.1:${address.port}/stream`;
  }

  serve(route: Route): void {
    this.route = route;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export function openStream(res: ServerResponse, extraHeaders: Record<string, string> = {}): void {
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', ...extraHeaders });
  res.flushHeaders();
}

/** `eventually`, in the argument order the client tests read best: what is awaited, then how long. */
export function until(predicate: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  return eventually(predicate, timeoutMs, what);
}
