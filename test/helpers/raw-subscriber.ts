import net from 'node:net';
import { SseResponseParser } from '../../bench/sse-wire.js';

export interface ReceivedEvent {
  readonly id: string;
  readonly data: string;
}

/**
 * A subscriber on a raw TCP socket (as in the bench, cheap enough for hundreds per test) that
 * behaves like a resuming EventSource: when its stream ends or its connection is refused or
 * answered 503, it reconnects after a short delay with the last event id it saw.
 */
export class RawSubscriber {
  readonly events: ReceivedEvent[] = [];
  /** Reset signals (data that is a JSON object with a `reason`). */
  readonly resets: string[] = [];
  connections = 0;
  private lastEventId: string | undefined;
  private socket: net.Socket | undefined;
  private stopped = false;
  /** Dropped on purpose (`drop`): no reconnect until `resume`. */
  private held = false;
  private readonly waiters = new Set<() => void>();

  constructor(
    private readonly port: number,
    private readonly topic: string,
    options: { lastEventId?: string } = {},
  ) {
    this.lastEventId = options.lastEventId;
  }

  /** Resolves once the stream answered 200 the first time. */
  start(): Promise<void> {
    return new Promise((resolve) => this.connect(resolve));
  }

  /** Resolves once `predicate` holds on the events received; rejects after `timeoutMs`. */
  waitFor(predicate: (events: readonly ReceivedEvent[]) => boolean, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!predicate(this.events)) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`${this.topic}: ${this.events.length} events after ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  stop(): void {
    this.stopped = true;
    this.socket?.destroy();
  }

  /** Resets the connection (RST, as a load balancer dropping it would) and stays away until `resume`. */
  drop(): void {
    this.held = true;
    this.socket?.resetAndDestroy();
  }

  /** Reconnects at once with the last event id seen; resolves when the stream answers 200. */
  resume(): Promise<void> {
    this.held = false;
    return new Promise((resolve) => this.connect(resolve));
  }

  private connect(onFirstOpen?: () => void): void {
    if (this.stopped) return;
    const socket = net.connect(this.port, '127.0.0.1');
    this.socket = socket;
    const parser = new SseResponseParser({
      onHead: (status) => {
        if (status !== 200) {
          socket.destroy(); // 503 while shutting down or starting: try again shortly
          return;
        }
        this.connections++;
        onFirstOpen?.();
        onFirstOpen = undefined;
      },
      onEvent: (id, data) => this.receive(id, data),
      onEnd: () => socket.destroy(),
    });
    socket.setEncoding('latin1');
    socket.on('data', (text: string) => parser.push(text));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (this.stopped || this.held || this.socket !== socket) return;
      // Ended, refused or answered 503: reconnect (resuming) after a short, spread-out delay.
      setTimeout(() => this.connect(onFirstOpen), 50 + Math.random() * 150);
    });
    const resume = this.lastEventId === undefined ? '' : `Last-Event-ID: ${this.lastEventId}\r\n`;
    socket.write(
      `GET /.well-known/mercure?topic=${encodeURIComponent(this.topic)} HTTP/1.1\r\n` +
        `Host: 127.0.0.1:${this.port}\r\nAccept: text/event-stream\r\n${resume}\r\n`,
    );
  }

  private receive(id: string, data: string): void {
    this.lastEventId = id;
    if (data.startsWith('{') && data.includes('"reason"')) this.resets.push(data);
    else this.events.push({ id, data });
    for (const waiter of [...this.waiters]) waiter();
  }
}
