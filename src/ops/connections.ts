import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import type { Http2SecureServer, Http2ServerRequest, Http2ServerResponse, Http2Session } from 'node:http2';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

export interface ConnectionTrackerOptions {
  /**
   * Most open connections that carry no event stream (idle keep-alive, a request being sent or
   * answered, a TLS handshake); a new connection past it is refused at once. 0: unlimited.
   */
  maxNonStreamConnections?: number;
}

/** What a refused plain-HTTP connection is told before it is closed. */
const FULL_ANSWER = (() => {
  const body = 'Too many connections: the hub is at its limit of connections without a stream.\n';
  return (
    'HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nConnection: close\r\n' +
    `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
})();

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
  /** HTTP/1.1 request sockets whose current request is an event stream. */
  private readonly streamSockets = new Set<Socket>();
  /** HTTP/2 sessions with at least one event stream open, and how many. */
  private readonly streamSessions = new Map<Http2Session, number>();
  private readonly maxNonStream: number;

  constructor(
    server: HttpServer | Http2SecureServer,
    private readonly tls: boolean,
    options: ConnectionTrackerOptions = {},
  ) {
    this.maxNonStream = options.maxNonStreamConnections ?? 0;
    // One listener function for every socket (`this` is the socket): a closure per socket would be
    // kept for as long as the connection, and an idle event stream is little more than that.
    const connectionClosed = socketListener((socket) => this.forgetConnection(socket));
    const requestSocketClosed = socketListener((socket) => this.forgetRequestSocket(socket));
    this.requestSocketClosed = requestSocketClosed;
    server.on('connection', (socket: Socket) => {
      // An event stream's connection handed back by the hub (see takeStreamSocket): its request
      // is over, and it now waits for the next one like any idle keep-alive connection.
      if (this.connections.has(socket)) return this.handedBack(socket);
      if (this.maxNonStream > 0 && this.nonStreamCount >= this.maxNonStream) return this.refuse(socket);
      this.connections.add(socket);
      socket.on('close', connectionClosed);
      if (!tls) this.addRequestSocket(socket, false);
    });
    // Over TLS the request's socket is the TLS socket, known once the handshake is done.
    if (tls) server.on('secureConnection', (socket: TLSSocket) => this.addRequestSocket(socket, true));
    server.on('session', (session: Http2Session) => {
      this.sessions.add(session);
      if (this.draining) session.close();
      session.once('close', () => this.sessions.delete(session));
    });
  }

  get size(): number {
    return this.connections.size;
  }

  /** Open connections carrying no event stream: what `maxNonStreamConnections` bounds. */
  get nonStreamCount(): number {
    return this.connections.size - this.streamSockets.size - this.streamSessions.size;
  }

  /**
   * Call for every request: counts HTTP/1.1 requests per connection, and `stream` (a request that
   * may become an event stream) marks its connection as a stream's until the response ends.
   */
  trackRequest(
    req: IncomingMessage | Http2ServerRequest,
    res: ServerResponse | Http2ServerResponse,
    stream = false,
  ): void {
    if (req.httpVersionMajor !== 1) {
      if (stream) this.trackHttp2Stream(req as Http2ServerRequest);
      return;
    }
    const socket = req.socket as Socket;
    if (stream) this.streamSockets.add(socket);
    this.activeRequests.set(socket, (this.activeRequests.get(socket) ?? 0) + 1);
    // 'finish', not 'close': an event stream's response never finishes, and a 'close' listener
    // would keep it (see takeStreamSocket). A response that does not finish goes with its socket.
    res.on('finish', () => {
      this.streamSockets.delete(socket);
      const left = (this.activeRequests.get(socket) ?? 1) - 1;
      if (left > 0) return void this.activeRequests.set(socket, left);
      this.activeRequests.delete(socket);
      if (this.draining) socket.end();
    });
  }

  /**
   * A request read off its socket by the hub itself (a publish the stream lane serves) begins: its
   * connection is busy, which `drain` does not close, until `laneRequestEnded`.
   */
  laneRequestStarted(socket: Socket): void {
    this.activeRequests.set(socket, 1);
  }

  /** Whether the connection may wait for another request: not once the server is draining. */
  laneRequestEnded(socket: Socket): boolean {
    this.activeRequests.delete(socket);
    return !this.draining;
  }

  /**
   * An event stream's request read off its socket by the hub itself (the stream lane, which
   * `trackRequest` never sees): its connection is a stream's until handed back or closed.
   */
  trackStream(socket: Socket): void {
    this.streamSockets.add(socket);
    this.activeRequests.set(socket, 1);
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

  private readonly requestSocketClosed: (this: Socket) => void;

  /** `listen`: false when the socket is the TCP connection, whose close listener forgets both. */
  private addRequestSocket(socket: Socket, listen: boolean): void {
    this.requestSockets.add(socket);
    if (this.draining && !isHttp2(socket)) socket.end();
    if (listen) socket.on('close', this.requestSocketClosed);
  }

  private trackHttp2Stream(req: Http2ServerRequest): void {
    const session = req.stream.session;
    if (session === undefined) return;
    this.streamSessions.set(session, (this.streamSessions.get(session) ?? 0) + 1);
    req.stream.once('close', () => {
      const left = (this.streamSessions.get(session) ?? 1) - 1;
      if (left > 0) this.streamSessions.set(session, left);
      else this.streamSessions.delete(session);
    });
  }

  /**
   * Answers 503 where the connection speaks plain HTTP (a TLS one cannot be answered yet), and
   * closes it lingering: see `closeLingering`. Past `MAX_LINGERING` at once, refused connections
   * are destroyed at once instead, so refusals cannot hold more than that many sockets.
   */
  private refuse(socket: Socket): void {
    socket.on('error', () => undefined);
    if (this.tls || this.lingering >= MAX_LINGERING) return void socket.destroy();
    this.lingering++;
    socket.once('close', () => this.lingering--);
    closeLingering(socket, FULL_ANSWER);
  }

  /** Refused connections still being read and discarded. */
  private lingering = 0;

  private handedBack(socket: Socket): void {
    this.streamSockets.delete(socket);
    this.activeRequests.delete(socket);
    if (this.draining) socket.end();
  }

  private forgetConnection(socket: Socket): void {
    this.connections.delete(socket);
    this.forgetRequestSocket(socket);
    if (this.connections.size === 0) for (const waiter of [...this.emptyWaiters]) waiter();
  }

  private forgetRequestSocket(socket: Socket): void {
    this.requestSockets.delete(socket);
    this.streamSockets.delete(socket);
    this.activeRequests.delete(socket);
  }
}

/** Longest a refused connection is read and discarded before it is destroyed (ms). */
const LINGER_MS = 2000;
/** Most bytes read and discarded from a refused connection before it is destroyed. */
const LINGER_BYTES = 1024 * 1024;
/** Most refused connections lingering at once. */
const MAX_LINGERING = 1024;

/**
 * Sends `answer`, half-closes, and reads and discards what the client still sends for a bounded
 * time and byte count before destroying the socket. Closing a socket with unread bytes makes the
 * kernel send RST, and a client whose request body (or pipelined request) was not read would get
 * a reset instead of the answer. Node's HTTP parser is first taken off the socket, so the request
 * being discarded is never served.
 */
function closeLingering(socket: Socket, answer: string): void {
  detachHttpParser(socket);
  let discarded = 0;
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.on('data', (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > LINGER_BYTES) socket.destroy();
  });
  // The client closed its side: everything it sent is read.
  socket.on('end', () => socket.destroy());
  socket.once('close', () => clearTimeout(timer));
  socket.end(answer);
}

/**
 * Takes Node's HTTP parser off a connection it was just given (the server's own 'connection'
 * listener runs before ours). The parser reads the socket's handle directly until a 'data'
 * listener is added, which makes it fall back to 'data' events: add one, then remove the others
 * (the parser's) and the parser's 'end' listener, which would parse the rest and answer 400.
 */
function detachHttpParser(socket: Socket): void {
  const discard = (): void => undefined;
  socket.on('data', discard);
  for (const listener of socket.listeners('data')) {
    if (listener !== discard) socket.removeListener('data', listener as (chunk: Buffer) => void);
  }
  socket.removeListener('data', discard);
  socket.removeAllListeners('end');
}

/** A listener that passes the socket it is called on (`this`) to `forget`. */
function socketListener(forget: (socket: Socket) => void): (this: Socket) => void {
  return function (this: Socket): void {
    forget(this);
  };
}

function isHttp2(socket: Socket): boolean {
  return (socket as TLSSocket).alpnProtocol === 'h2';
}
