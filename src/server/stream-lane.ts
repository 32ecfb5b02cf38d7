import { maxHeaderSize } from 'node:http';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import type { HubRequest } from '../http/hub-request.js';
import { adoptStreamSocket, KEEP_ALIVE_TIMEOUT_BUFFER_MS } from '../http/stream-socket.js';

/**
 * The stream lane: a new connection whose first request is a plain subscription is served without
 * `node:http`'s request and response objects, and so are plain publishes, one after another on a
 * keep-alive connection.
 *
 * Why: a reconnect storm is thousands of connections that each send one GET and then only read.
 * For each, `node:http` builds an `IncomingMessage` and a `ServerResponse` (both streams, with
 * their listeners), corks and frames the head, and the hub then takes the socket away from it again
 * (see `takeStreamSocket`). Measured, that is about half of the hub's CPU per connecting subscriber.
 * The lane reads the connection's first bytes itself, parses them with Node's own HTTP parser
 * (llhttp, as strict as `node:http`), and hands the request to the hub as a `HubRequest` on a socket
 * that is the hub's from the start.
 *
 * Publishes: a publisher on a keep-alive connection sends small POSTs one after another, and for
 * each `node:http` builds the same two streams, their listeners and timers: measured, about 15 % of
 * the hub's CPU per publish. A connection whose publish the lane answered comes back to it, as a new
 * connection does, for its next request.
 *
 * It takes only the plain case, and anything else goes to `node:http` untouched, bytes included:
 * a chunk read while the connection waits for a request must hold exactly one complete request,
 * HTTP/1.1, keep-alive, with a `Host`, no `Expect` or upgrade, and no header given twice (Node's
 * rules for duplicates are left to Node): a `GET <path>` with no body framing, or a
 * `POST <path>` with a `Content-Length` body, whole. On a Node without the parser it is not
 * installed.
 */

/** A request the lane took, headers by lower-case name (one value each). */
export interface LaneRequest extends HubRequest {
  readonly method: 'GET' | 'POST';
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly httpVersionMajor: 1;
  /** A POST's whole body, which arrived with its head. */
  readonly body: Buffer | undefined;
}

/** A request as the parser's callbacks build it: its body is added once the message is whole. */
type ParsedRequest = { -readonly [K in keyof LaneRequest]: LaneRequest[K] };

/** A publish the lane read, to be answered once. */
export interface LaneExchange {
  /** The connection: the lane's, not to be read or written but through `answer`. */
  readonly socket: Socket;
  /**
   * Writes `answer` (a whole HTTP/1.1 answer; a string is Latin-1, see `answerBytes`) and then closes the connection (`closes`) or waits
   * for its next request.
   */
  answer(answer: Buffer | string, closes: boolean): void;
}

export interface LaneHandlers {
  /** Serves a subscription; nothing has been written on `socket`, which it now owns. */
  stream(req: LaneRequest, socket: Socket): void;
  /** Serves a publish; the lane keeps the connection, and reads nothing more until it is answered. */
  publish(req: LaneRequest, exchange: LaneExchange): void;
}

interface HttpParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(data: Buffer): number | Error;
  [callback: number]: unknown;
}

interface HttpParserClass {
  new (): HttpParser;
  REQUEST: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
  kOnExecute: number;
}

const httpCommon = ((): { HTTPParser: HttpParserClass; methods: readonly string[] } | undefined => {
  try {
    const common = createRequire(import.meta.url)('_http_common') as {
      HTTPParser?: unknown;
      methods?: unknown;
    };
    if (typeof common.HTTPParser !== 'function' || !Array.isArray(common.methods)) return undefined;
    return { HTTPParser: common.HTTPParser as HttpParserClass, methods: common.methods as string[] };
  } catch {
    return undefined;
  }
})();

/** Request headers that mean more than a plain request: left to `node:http`. */
const NOT_PLAIN = new Set(['transfer-encoding', 'expect', 'upgrade']);
const CONTENT_LENGTH = 'content-length';
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');
/** The waiting connections are looked at four times per server timeout, at most this often. */
const MIN_SWEEP_MS = 50;
/** A chunk longer than this is not a plain request. */
const MAX_HEAD_BYTES = 16 * 1024;

/**
 * Puts the lane in front of `server`'s own connection handling, for GET and POST requests to `path`
 * (with or without a query). Returns false, changing nothing, when this Node does not look as
 * expected.
 */
export function installStreamLane(server: Server, path: string, serve: LaneHandlers): boolean {
  const listeners = server.listeners('connection') as ((socket: Socket) => void)[];
  const nodeListener = listeners.find((listener) => listener.name === 'connectionListener');
  if (httpCommon === undefined || nodeListener === undefined) return false;
  const lane = new StreamLane(server, nodeListener, serve, path, httpCommon);
  // In place, so the listeners after Node's (connection tracking) still run after it.
  server.removeAllListeners('connection');
  for (const listener of listeners)
    server.on('connection', listener === nodeListener ? lane.connection : listener);
  return true;
}

class StreamLane {
  private readonly parser: HttpParser;
  private readonly getPrefix: Buffer;
  private readonly postPrefix: Buffer;
  private parsed: ParsedRequest | undefined;
  /** The body's bytes and the messages completed in the chunk being parsed. */
  private body: Buffer | undefined;
  private messages = 0;
  /** Whether the parser waits at the start of a request, with no `initialize` needed. */
  private parserReady = false;
  readonly connection: (socket: Socket) => void;
  private readonly firstData: (this: Socket, chunk: Buffer) => void;
  /** Connections waiting for their first bytes, by when they were accepted (in that order). */
  private readonly waiting = new Map<Socket, number>();
  private readonly forget: (this: Socket) => void;
  private sweeper: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly server: Server,
    private readonly nodeListener: (socket: Socket) => void,
    private readonly serve: LaneHandlers,
    path: string,
    private readonly http: { HTTPParser: HttpParserClass; methods: readonly string[] },
  ) {
    this.getPrefix = Buffer.from(`GET ${path}`, 'latin1');
    this.postPrefix = Buffer.from(`POST ${path}`, 'latin1');
    this.parser = new http.HTTPParser();
    this.parser[http.HTTPParser.kOnHeadersComplete] = this.headersComplete.bind(this);
    this.parser[http.HTTPParser.kOnBody] = (bytes: Buffer) => {
      this.body = this.body === undefined ? bytes : Buffer.concat([this.body, bytes]);
    };
    this.parser[http.HTTPParser.kOnMessageComplete] = () => void this.messages++;
    for (const callback of ['kOnHeaders', 'kOnExecute'] as const) {
      this.parser[http.HTTPParser[callback]] = ignore;
    }
    this.firstData = firstDataListener(this);
    this.forget = forgetListener(this.waiting);
    this.connection = (socket) => {
      socket.on('data', this.firstData);
      // A client that leaves without a request: the server's sockets allow half-open connections.
      socket.on('end', destroySocket);
      socket.on('error', ignore);
      // Whoever times the connection (a handed-back stream's keep-alive wait) closes it this way.
      socket.on('timeout', destroySocket);
      if (server.timeout > 0) this.wait(socket);
    };
  }

  /**
   * As Node would, a connection that sends nothing is closed after the server's timeout; timed by
   * one sweep over the waiting connections rather than a timer per socket, which a socket keeps
   * (with a bound function) for as long as its stream lives.
   */
  private wait(socket: Socket): void {
    this.waiting.set(socket, Date.now());
    socket.on('close', this.forget);
    if (this.sweeper !== undefined) return;
    const period = Math.max(MIN_SWEEP_MS, Math.floor(this.server.timeout / 4));
    this.sweeper = setInterval(() => this.sweep(), period);
    this.sweeper.unref();
  }

  private sweep(): void {
    const acceptedBefore = Date.now() - this.server.timeout;
    // In the order they were accepted: the first one still in time ends the sweep.
    for (const [socket, acceptedAt] of this.waiting) {
      if (acceptedAt > acceptedBefore) break;
      this.waiting.delete(socket);
      socket.destroy();
    }
    if (this.waiting.size > 0) return;
    clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  /**
   * The bytes of a connection waiting for a request: its request is served here, or the connection
   * goes to Node.
   */
  read(socket: Socket, chunk: Buffer): void {
    socket.removeListener('data', this.firstData);
    if (this.waiting.delete(socket)) socket.removeListener('close', this.forget);
    const req = this.plainRequestIn(chunk);
    if (req?.method === 'POST') return this.publish(socket, req);
    this.release(socket);
    if (req === undefined) return this.handOver(socket, chunk);
    adoptStreamSocket(socket);
    this.serve.stream(req, socket);
  }

  /**
   * Serves a publish on a connection the lane keeps: paused (what the client sends meanwhile waits
   * in the socket) and timed by the server's timeout while it is served, as `node:http` times a
   * request; then back to waiting for the next request, timed as an idle keep-alive connection.
   */
  private publish(socket: Socket, req: LaneRequest): void {
    socket.pause();
    socket.setTimeout(this.server.timeout);
    let answered = false;
    this.serve.publish(req, {
      socket,
      answer: (answer, closes) => {
        if (answered || socket.destroyed) return;
        answered = true;
        if (closes || !this.server.listening || !(this.server.keepAliveTimeout > 0)) {
          socket.end(answer, 'latin1');
          // Not left half-open: the server's sockets allow it, and a client need never close its side.
          socket.destroySoon();
          return;
        }
        socket.write(answer, 'latin1');
        // Its listeners for the wait (end, error, timeout) stayed on: only reading resumes.
        socket.on('data', this.firstData);
        socket.resume();
        socket.setTimeout(this.server.keepAliveTimeout + KEEP_ALIVE_TIMEOUT_BUFFER_MS);
      },
    });
  }

  /** Takes off the listeners of a connection waiting for a request. */
  private release(socket: Socket): void {
    socket.removeListener('end', destroySocket);
    socket.removeListener('error', ignore);
    socket.removeListener('timeout', destroySocket);
  }

  /** Gives the connection to `node:http` as if it had just been accepted, its first bytes included. */
  private handOver(socket: Socket, chunk: Buffer): void {
    this.nodeListener.call(this.server, socket);
    // Node's own 'data' listener, which parses them as if read from the socket.
    socket.emit('data', chunk);
  }

  private plainRequestIn(chunk: Buffer): LaneRequest | undefined {
    if (chunk.length > MAX_HEAD_BYTES) return undefined;
    const post = startsWithPath(chunk, this.postPrefix);
    if (!post && !startsWithPath(chunk, this.getPrefix)) return undefined;
    // A GET's head ends the chunk; a POST's body follows its head, and llhttp finds where.
    if (!post && chunk.indexOf(HEAD_END) !== chunk.length - HEAD_END.length) return undefined;
    this.parsed = undefined;
    this.body = undefined;
    this.messages = 0;
    if (!this.parserReady) {
      const serverLimit = (this.server as { maxHeaderSize?: number }).maxHeaderSize;
      this.parser.initialize(this.http.HTTPParser.REQUEST, {}, serverLimit ?? maxHeaderSize, 0);
    }
    const parsedBytes = this.parser.execute(chunk);
    const req = this.parsed as ParsedRequest | undefined;
    const body = this.body;
    this.parsed = undefined;
    this.body = undefined;
    // llhttp is back at the start of a request after a whole keep-alive one, as it is after
    // `initialize` (which costs an async-hooks reset each time); anything else leaves it mid-way.
    const whole = parsedBytes === chunk.length && this.messages === 1 && req !== undefined;
    // And no byte after the request: llhttp would have begun reading them as the next one.
    this.parserReady = whole && endsWithRequest(chunk, req);
    if (!this.parserReady || req === undefined) return undefined;
    if (req.method === 'POST') req.body = body ?? Buffer.alloc(0);
    return req;
  }

  private headersComplete(
    versionMajor: number,
    versionMinor: number,
    rawHeaders: string[] | undefined,
    method: number,
    url: string,
    _statusCode: unknown,
    _statusMessage: unknown,
    upgrade: boolean,
    keepAlive: boolean,
  ): number {
    if (versionMajor !== 1 || versionMinor !== 1 || upgrade || !keepAlive) return 0;
    // Headers past llhttp's batch (32) come through kOnHeaders: not a plain request.
    const verb = this.http.methods[method];
    if (rawHeaders === undefined || (verb !== 'GET' && verb !== 'POST')) return 0;
    const headers: Record<string, string> = Object.create(null) as Record<string, string>;
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = (rawHeaders[i] as string).toLowerCase();
      if (name in headers || NOT_PLAIN.has(name)) return 0;
      headers[name] = rawHeaders[i + 1] as string;
    }
    if (headers.host === undefined) return 0;
    // A GET has no body framing; a POST's body is framed by its length (llhttp checked it).
    if ((headers[CONTENT_LENGTH] !== undefined) !== (verb === 'POST')) return 0;
    this.parsed = { method: verb, url, headers, httpVersionMajor: 1, body: undefined };
    return 0;
  }
}

/** One listener function per server, not a closure per connection (`this` is the socket). */
function firstDataListener(lane: StreamLane): (this: Socket, chunk: Buffer) => void {
  return function (this: Socket, chunk: Buffer): void {
    lane.read(this, chunk);
  };
}

/** A waiting connection's `close` listener, one for all of them (`this` is the socket). */
function forgetListener(waiting: Map<Socket, number>): (this: Socket) => void {
  return function (this: Socket): void {
    waiting.delete(this);
  };
}

/** Whether `req` (parsed from `chunk`, a GET's head or a POST with its body) ends where `chunk` does. */
function endsWithRequest(chunk: Buffer, req: ParsedRequest): boolean {
  if (req.method === 'GET') return true; // its head was checked to end the chunk
  const body = Number(req.headers[CONTENT_LENGTH]);
  return chunk.indexOf(HEAD_END) + HEAD_END.length + body === chunk.length;
}

/** Whether `chunk` starts with `prefix` (a method and path) followed by a query or the version. */
function startsWithPath(chunk: Buffer, prefix: Buffer): boolean {
  if (chunk.length <= prefix.length) return false;
  if (chunk.compare(prefix, 0, prefix.length, 0, prefix.length) !== 0) return false;
  const next = chunk[prefix.length];
  return next === 0x3f /* ? */ || next === 0x20; /* space */
}

function destroySocket(this: Socket): void {
  this.destroy();
}

function ignore(): void {}
