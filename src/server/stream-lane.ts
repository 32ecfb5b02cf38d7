import { maxHeaderSize } from 'node:http';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import type { HubRequest } from '../http/hub-request.js';
import { adoptStreamSocket } from '../http/stream-socket.js';

/**
 * The stream lane: a new connection whose first request is a plain subscription is served without
 * `node:http`'s request and response objects.
 *
 * Why: a reconnect storm is thousands of connections that each send one GET and then only read.
 * For each, `node:http` builds an `IncomingMessage` and a `ServerResponse` (both streams, with
 * their listeners), corks and frames the head, and the hub then takes the socket away from it again
 * (see `takeStreamSocket`). Measured, that is about half of the hub's CPU per connecting subscriber.
 * The lane reads the connection's first bytes itself, parses them with Node's own HTTP parser
 * (llhttp, as strict as `node:http`), and hands the request to the hub as a `HubRequest` on a socket
 * that is the hub's from the start.
 *
 * It takes only the plain case, and anything else goes to `node:http` untouched, bytes included:
 * the first chunk must hold exactly one complete `GET <path>` head, HTTP/1.1, keep-alive, with a
 * `Host`, no body framing, no `Expect` or upgrade, and no header given twice (Node's rules for
 * duplicates are left to Node). On a Node without the parser it is not installed.
 */

/** A request the lane took: a subscription's GET, headers by lower-case name (one value each). */
export interface LaneRequest extends HubRequest {
  readonly method: 'GET';
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly httpVersionMajor: 1;
}

/** Serves a request the lane took; nothing has been written on `socket`, which it now owns. */
export type LaneServe = (req: LaneRequest, socket: Socket) => void;

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

/** Request headers that mean more than a plain GET: left to `node:http`. */
const NOT_PLAIN = new Set(['content-length', 'transfer-encoding', 'expect', 'upgrade']);
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');
/** The waiting connections are looked at four times per server timeout, at most this often. */
const MIN_SWEEP_MS = 50;
/** A first chunk longer than this is not a plain subscription's head. */
const MAX_HEAD_BYTES = 16 * 1024;

/**
 * Puts the lane in front of `server`'s own connection handling, for GET requests to `path` (with or
 * without a query). Returns false, changing nothing, when this Node does not look as expected.
 */
export function installStreamLane(server: Server, path: string, serve: LaneServe): boolean {
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
  private readonly prefix: Buffer;
  private parsed: LaneRequest | undefined;
  readonly connection: (socket: Socket) => void;
  private readonly firstData: (this: Socket, chunk: Buffer) => void;
  /** Connections waiting for their first bytes, by when they were accepted (in that order). */
  private readonly waiting = new Map<Socket, number>();
  private readonly forget: (this: Socket) => void;
  private sweeper: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly server: Server,
    private readonly nodeListener: (socket: Socket) => void,
    private readonly serve: LaneServe,
    path: string,
    private readonly http: { HTTPParser: HttpParserClass; methods: readonly string[] },
  ) {
    this.prefix = Buffer.from(`GET ${path}`, 'latin1');
    this.parser = new http.HTTPParser();
    this.parser[http.HTTPParser.kOnHeadersComplete] = this.headersComplete.bind(this);
    for (const callback of ['kOnHeaders', 'kOnBody', 'kOnMessageComplete', 'kOnExecute'] as const) {
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

  /** A connection's first bytes: its request is served here, or the connection goes to Node. */
  read(socket: Socket, chunk: Buffer): void {
    socket.removeListener('data', this.firstData);
    socket.removeListener('end', destroySocket);
    socket.removeListener('error', ignore);
    socket.removeListener('timeout', destroySocket);
    if (this.waiting.delete(socket)) socket.removeListener('close', this.forget);
    const req = this.plainRequestIn(chunk);
    if (req === undefined) return this.handOver(socket, chunk);
    adoptStreamSocket(socket);
    this.serve(req, socket);
  }

  /** Gives the connection to `node:http` as if it had just been accepted, its first bytes included. */
  private handOver(socket: Socket, chunk: Buffer): void {
    this.nodeListener.call(this.server, socket);
    // Node's own 'data' listener, which parses them as if read from the socket.
    socket.emit('data', chunk);
  }

  private plainRequestIn(chunk: Buffer): LaneRequest | undefined {
    const prefix = this.prefix;
    if (chunk.length > MAX_HEAD_BYTES || chunk.length <= prefix.length) return undefined;
    if (chunk.compare(prefix, 0, prefix.length, 0, prefix.length) !== 0) return undefined;
    const next = chunk[prefix.length];
    if (next !== 0x3f /* ? */ && next !== 0x20 /* space */) return undefined;
    if (chunk.indexOf(HEAD_END) !== chunk.length - HEAD_END.length) return undefined;
    this.parsed = undefined;
    const serverLimit = (this.server as { maxHeaderSize?: number }).maxHeaderSize;
    this.parser.initialize(this.http.HTTPParser.REQUEST, {}, serverLimit ?? maxHeaderSize, 0);
    const parsedBytes = this.parser.execute(chunk);
    const req = this.parsed;
    this.parsed = undefined;
    return parsedBytes === chunk.length ? req : undefined;
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
    if (rawHeaders === undefined || this.http.methods[method] !== 'GET') return 0;
    const headers: Record<string, string> = Object.create(null) as Record<string, string>;
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = (rawHeaders[i] as string).toLowerCase();
      if (name in headers || NOT_PLAIN.has(name)) return 0;
      headers[name] = rawHeaders[i + 1] as string;
    }
    if (headers.host === undefined) return 0;
    this.parsed = { method: 'GET', url, headers, httpVersionMajor: 1 };
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

function destroySocket(this: Socket): void {
  this.destroy();
}

function ignore(): void {}
