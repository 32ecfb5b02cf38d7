import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import type { Http2SecureServer, Http2ServerRequest, Http2ServerResponse, Http2Session } from 'node:http2';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

/**
 * The server's open connections, so shutdown can let each finish what it carries and then close
 * it: HTTP/2 connections get a GOAWAY (their open streams finish), HTTP/1.1 connections are closed
 * as soon as they carry no request. What is still open at the deadline is destroyed, including
 * connections that never completed a TLS handshake.
 */
export class ConnectionTracker {
  /** Every TCP connection: what is counted, waited for and destroyed at the deadline. */
  private readonly connections = new Set<Socket>();
  /** The sockets requests arrive on: the TCP socket itself, or over TLS the TLS socket. */
  private readonly requestSockets = new Set<Socket>();
  private readonly sessions = new Set<Http2Session>();
  /** HTTP/1.1 requests in progress per request socket. */
  private readonly activeRequests = new Map<Socket, number>();
  private draining = false;
  private readonly emptyWaiters = new Set<() => void>();

  constructor(server: HttpServer | Http2SecureServer, tls: boolean) {
    server.on('connection', (socket: Socket) => {
      this.connections.add(socket);
      socket.once('close', () => {
        this.connections.delete(socket);
        if (this.connections.size === 0) for (const waiter of [...this.emptyWaiters]) waiter();
      });
      if (!tls) this.addRequestSocket(socket);
    });
    // Over TLS the request's socket is the TLS socket, known once the handshake is done.
    if (tls) server.on('secureConnection', (socket: TLSSocket) => this.addRequestSocket(socket));
    server.on('session', (session: Http2Session) => {
      this.sessions.add(session);
      if (this.draining) session.close();
      session.once('close', () => this.sessions.delete(session));
    });
  }

  get size(): number {
    return this.connections.size;
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
    for (const socket of this.requestSockets) {
      if (!this.activeRequests.has(socket) && !isHttp2(socket)) socket.end();
    }
  }

  /** Resolves when no connection is open, or at the deadline (then returns false). */
  whenEmpty(deadline: number): Promise<boolean> {
    if (this.connections.size === 0) return Promise.resolve(true);
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
    for (const socket of this.requestSockets) socket.destroy();
    for (const socket of this.connections) socket.destroy();
  }

  private addRequestSocket(socket: Socket): void {
    this.requestSockets.add(socket);
    if (this.draining && !isHttp2(socket)) socket.end();
    socket.once('close', () => {
      this.requestSockets.delete(socket);
      this.activeRequests.delete(socket);
    });
  }
}

function isHttp2(socket: Socket): boolean {
  return (socket as TLSSocket).alpnProtocol === 'h2';
}
