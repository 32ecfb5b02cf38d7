import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import type { Http2SecureServer, Http2ServerRequest, Http2ServerResponse, Http2Session } from 'node:http2';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

/**
 * The server's open connections, so shutdown can let each finish what it carries and then close
 * it: HTTP/2 connections get a GOAWAY (their open streams finish), HTTP/1.1 connections are closed
 * as soon as they carry no request. What is still open at the deadline is destroyed.
 */
export class ConnectionTracker {
  private readonly sockets = new Set<Socket>();
  private readonly sessions = new Set<Http2Session>();
  /** HTTP/1.1 requests in progress per connection. */
  private readonly activeRequests = new Map<Socket, number>();
  private draining = false;
  private readonly emptyWaiters = new Set<() => void>();

  constructor(server: HttpServer | Http2SecureServer, tls: boolean) {
    // Over TLS the request's socket is the TLS socket, known once the handshake is done.
    server.on(tls ? 'secureConnection' : 'connection', (socket: Socket) => this.add(socket));
    server.on('session', (session: Http2Session) => {
      this.sessions.add(session);
      if (this.draining) session.close();
      session.once('close', () => this.sessions.delete(session));
    });
  }

  get size(): number {
    return this.sockets.size;
  }

  /** Call for every request: counts HTTP/1.1 requests per connection. */
  trackRequest(req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse): void {
    if (req.httpVersionMajor !== 1) return;
    const socket = req.socket as Socket;
    this.activeRequests.set(socket, (this.activeRequests.get(socket) ?? 0) + 1);
    res.once('close', () => {
      const left = (this.activeRequests.get(socket) ?? 1) - 1;
      if (left > 0) return void this.activeRequests.set(socket, left);
      this.activeRequests.delete(socket);
      if (this.draining) socket.end();
    });
  }

  /** Asks every connection to finish: GOAWAY on HTTP/2, close idle HTTP/1.1 keep-alive connections. */
  drain(): void {
    this.draining = true;
    for (const session of this.sessions) session.close();
    for (const socket of this.sockets) {
      if (!this.activeRequests.has(socket) && !isHttp2(socket)) socket.end();
    }
  }

  /** Resolves when no connection is open, or at the deadline (then returns false). */
  whenEmpty(deadline: number): Promise<boolean> {
    if (this.sockets.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(false), Math.max(0, deadline - Date.now()));
      const waiter = () => finish(true);
      const finish = (emptied: boolean) => {
        clearTimeout(timer);
        this.emptyWaiters.delete(waiter);
        resolve(emptied);
      };
      this.emptyWaiters.add(waiter);
    });
  }

  destroyAll(): void {
    for (const session of this.sessions) session.destroy();
    for (const socket of this.sockets) socket.destroy();
  }

  private add(socket: Socket): void {
    this.sockets.add(socket);
    if (this.draining && !isHttp2(socket)) socket.end();
    socket.once('close', () => {
      this.sockets.delete(socket);
      this.activeRequests.delete(socket);
      if (this.sockets.size === 0) for (const waiter of [...this.emptyWaiters]) waiter();
    });
  }
}

function isHttp2(socket: Socket): boolean {
  return (socket as TLSSocket).alpnProtocol === 'h2';
}
