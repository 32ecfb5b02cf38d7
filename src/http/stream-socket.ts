import { Server as HttpServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';

/**
 * Taking an event stream's connection away from `node:http` once the response head is out, as
 * Node itself does for an `Upgrade` request, and giving it back when the stream ends.
 *
 * Why: for as long as a response is open, `node:http` keeps the request, the response, an HTTP
 * parser (with its native buffers) and a dozen bound listeners per connection, all to be ready for
 * a next request that an event stream does not let come. That is about 4 KB per idle subscriber,
 * more than the subscriber's own state. Once taken, the connection is only its socket. When the
 * stream ends, its last chunk is written and the connection is handed back to its server (the
 * documented `'connection'` event), which reads the client's next request as on any keep-alive
 * connection; or it is closed, when the server no longer listens or the stream's head said so.
 *
 * This leans on Node internals (`socket.parser`, the server's socket listeners, `freeParser` from
 * `_http_common`), the ones the `Upgrade` path has used for years. Every precondition is checked
 * first and nothing is changed unless all hold: on a Node where any is missing the stream simply
 * stays on `ServerResponse`. A test asserts the takeover happens on the Node version CI runs.
 */

interface HttpParserLike {
  incoming: unknown;
}

type FreeParser = (parser: HttpParserLike, req: IncomingMessage, socket: Socket) => void;

const freeParser: FreeParser | undefined = (() => {
  try {
    const common = createRequire(import.meta.url)('_http_common') as { freeParser?: unknown };
    return typeof common.freeParser === 'function' ? (common.freeParser as FreeParser) : undefined;
  } catch {
    return undefined;
  }
})();

/** The listeners `node:http` puts on a server socket, by event, as Node names them. */
const SERVER_SOCKET_LISTENERS: Record<string, string> = {
  data: 'bound socketOnData',
  end: 'bound socketOnEnd',
  close: 'bound socketOnClose',
  drain: 'bound socketOnDrain',
  error: 'socketOnError',
  timeout: 'socketOnTimeout',
  resume: 'onSocketResume',
  pause: 'onSocketPause',
};
/** Without these the socket is not one `node:http` serves as expected: leave it alone. */
const REQUIRED_EVENTS = ['data', 'end', 'close'];

interface ResponseInternals {
  /** Node closes the connection after this response (its head said `Connection: close`). */
  _last?: unknown;
  maxRequestsOnConnectionReached?: unknown;
  chunkedEncoding?: unknown;
  outputData?: unknown;
  detachSocket?: unknown;
}

interface SocketInternals {
  parser?: HttpParserLike | null;
  _httpMessage?: unknown;
  /** The server that accepted the connection (set by `node:net`). */
  server?: unknown;
  encrypted?: unknown;
}

/** Applications' `close` listeners on streams whose socket was taken, to call at the stream's end. */
const closeRelays = new WeakMap<Socket, () => void>();
/** Taken connections whose stream's head said `Connection: close`: closed when the stream ends. */
const lastOnConnection = new WeakSet<Socket>();
/** Handed-back connections whose next request has not come yet (see `idleUntilNextRequest`). */
const awaitingRequest = new WeakSet<Socket>();
const serversWatched = new WeakSet<HttpServer>();
/** Node waits this much longer than the `Keep-Alive: timeout` it advertises, against races. */
export const KEEP_ALIVE_TIMEOUT_BUFFER_MS = 1000;

/**
 * Takes the socket of a chunked HTTP/1.1 response on a plain TCP connection of a `node:http`
 * server, whose head (and anything written so far) has been handed to the socket. Returns
 * undefined, changing nothing, when that is not the case or this Node does not look as expected.
 *
 * From then on `req` and `res` emit nothing more, except that their `close` listeners (if they
 * have any) still run, response first as in Node, when the stream ends or its connection closes:
 * they are then kept as long as the stream, so the hub itself listens on the socket instead. The
 * caller ends the stream with `giveBackStreamSocket` or destroys the socket; data the client sends
 * meanwhile, or its half-close, closes the connection.
 */
export function takeStreamSocket(req: IncomingMessage, res: ServerResponse): Socket | undefined {
  if (freeParser === undefined) return undefined;
  const response = res as unknown as ResponseInternals;
  const socket = res.socket as (Socket & SocketInternals) | null;
  if (
    socket === null ||
    !res.headersSent ||
    res.writableEnded ||
    req.httpVersion !== '1.1' ||
    response.chunkedEncoding !== true ||
    typeof response.detachSocket !== 'function' ||
    !Array.isArray(response.outputData) ||
    response.outputData.length !== 0 ||
    socket._httpMessage !== res ||
    socket.destroyed ||
    // Handed back at the end through the server's 'connection' event, which only a plain
    // node:http server reads as "a TCP connection to serve".
    socket.encrypted === true ||
    !(socket.server instanceof HttpServer)
  ) {
    return undefined;
  }
  const parser = socket.parser;
  // A request pipelined behind this one has already been parsed: it must be answered in turn.
  if (parser === null || parser === undefined || parser.incoming !== req) return undefined;

  const serverListeners: [string, (...args: unknown[]) => void][] = [];
  for (const [event, name] of Object.entries(SERVER_SOCKET_LISTENERS)) {
    for (const listener of socket.listeners(event) as ((...args: unknown[]) => void)[]) {
      if (listener.name === name) serverListeners.push([event, listener]);
    }
  }
  if (!REQUIRED_EVENTS.every((event) => serverListeners.some(([found]) => found === event))) return undefined;

  (response.detachSocket as (socket: Socket) => void).call(res, socket);
  for (const [event, listener] of serverListeners) socket.removeListener(event, listener);
  freeParser(parser, req, socket);
  // Node would close the connection after this response: the stream's end will.
  if (response._last === true || response.maxRequestsOnConnectionReached === true) {
    lastOnConnection.add(socket);
  }
  const requestListens = req.listenerCount('close') > 0;
  const responseListens = res.listenerCount('close') > 0;
  if (requestListens || responseListens) {
    relayClose(socket, requestListens ? req : undefined, responseListens ? res : undefined);
  }
  adoptStreamSocket(socket);
  return socket;
}

/** How long a stream's connection may be idle before TCP probes its peer (when heartbeats are off). */
const IDLE_PROBE_DELAY_MS = 60_000;

/**
 * Readies an event stream's connection: no idle timeout (a stream may stay quiet for long), no
 * Nagle delay, and TCP keep-alive probes only when `idleProbes` (the hub sends no heartbeats).
 * Heartbeats keep a stream's connection from ever being idle, so probes would never be sent, and
 * turning them on costs two system calls per stream.
 */
export function readyStreamSocket(socket: Socket, idleProbes: boolean): void {
  socket.setTimeout(0);
  socket.setNoDelay(true);
  if (idleProbes) socket.setKeepAlive(true, IDLE_PROBE_DELAY_MS);
}

/**
 * Makes `socket`, which no HTTP parser reads any more, an event stream's connection: data the
 * client sends, or its half-close, closes it, and its errors end in `close` (which the stream's
 * owner listens to). `giveBackStreamSocket` undoes this.
 */
export function adoptStreamSocket(socket: Socket): void {
  socket.on('data', destroySocket);
  socket.on('end', destroySocket);
  socket.on('error', ignore);
  // Reading on is how the server notices the client left without waiting for a write to fail.
  socket.resume();
}

/**
 * Ends a taken stream: writes `lastChunk` (the chunked body's end), then hands the connection back
 * to its server for the client's next request. It is closed instead, once written, when asked
 * (`closeAfter`), when the server no longer listens, when the stream's head said
 * `Connection: close`, or when the server would not time an idle connection out
 * (`keepAliveTimeout` 0): a handed-back connection is, to `node:http`, a new one that has not sent
 * its request yet, which `server.close()` and `closeIdleConnections()` wait for rather than close.
 */
export function giveBackStreamSocket(socket: Socket, lastChunk: Buffer, closeAfter = false): void {
  const relay = closeRelays.get(socket);
  if (relay !== undefined) {
    closeRelays.delete(socket);
    socket.removeListener('close', relay);
  }
  const server = (socket as Socket & SocketInternals).server as HttpServer;
  if (socket.destroyed) return relay?.();
  if (closeAfter || !server.listening || lastOnConnection.has(socket) || !(server.keepAliveTimeout > 0)) {
    // Still ours until it closes: errors (a reset while the last bytes drain) stay ignored.
    socket.end(lastChunk);
    // Not left half-open: the server's sockets allow it, and a client need never close its side.
    socket.destroySoon();
  } else {
    socket.removeListener('data', destroySocket);
    socket.removeListener('end', destroySocket);
    socket.removeListener('error', ignore);
    socket.write(lastChunk);
    server.emit('connection', socket);
    idleUntilNextRequest(server, socket);
  }
  relay?.();
}

/**
 * Gives a handed-back connection the time `node:http` gives an idle keep-alive connection for its
 * next request, and the server's own timeout once that request comes, as `node:http` does.
 */
function idleUntilNextRequest(server: HttpServer, socket: Socket): void {
  socket.setTimeout(server.keepAliveTimeout + KEEP_ALIVE_TIMEOUT_BUFFER_MS);
  awaitingRequest.add(socket);
  if (serversWatched.has(server)) return;
  serversWatched.add(server);
  server.prependListener('request', requestCame);
}

/** A server's `request` listener (`this` is the server), one for all its connections. */
function requestCame(this: HttpServer, req: IncomingMessage): void {
  if (awaitingRequest.delete(req.socket)) req.socket.setTimeout(this.timeout || 0);
}

function relayClose(socket: Socket, req: IncomingMessage | undefined, res: ServerResponse | undefined): void {
  const relay = (): void => {
    res?.emit('close');
    req?.emit('close');
  };
  closeRelays.set(socket, relay);
  socket.on('close', relay);
}

/**
 * A pipelined request could never be answered behind a stream that does not end, and a
 * half-close means the client is leaving. Shared by every stream (`this` is the socket) rather
 * than a closure kept per connection.
 */
function destroySocket(this: Socket): void {
  this.destroy();
}

function ignore(): void {}
