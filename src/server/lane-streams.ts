import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { CorsPolicy } from '../http/cors.js';
import type { HttpError } from '../http/errors.js';
import type { StreamOpener, StreamTransport } from '../http/open-stream.js';
import { errorAnswer, streamHead } from '../http/raw-answer.js';
import { StreamSocketSink } from '../http/sink.js';
import { giveBackStreamSocket, readyStreamSocket } from '../http/stream-socket.js';
import type { ConnectionTracker } from '../ops/connections.js';
import { requestIdFrom } from '../ops/logger.js';
import type { Logger } from '../ops/logger.js';
import { logAnswer, shuttingDown } from './routes.js';
import type { RequestIds } from './request-ids.js';
import type { GracefulShutdown } from './shutdown.js';
import type { LaneHandlers, LaneRequest } from './stream-lane.js';

export interface LaneStreamParts {
  server: Server;
  /** The Mercure endpoint's opener and CORS policy (`createMercureEndpoint`): one set of limits. */
  opener: StreamOpener;
  cors: CorsPolicy;
  shutdown: GracefulShutdown;
  connections: ConnectionTracker;
  requestIds: RequestIds;
  logger: Logger | undefined;
}

/**
 * Serves the subscriptions the stream lane takes as the router serves the others: a request id,
 * connection tracking, the shutdown refusal, CORS, then the Mercure endpoint's stream opener. The
 * answer, a stream's head or a refusal, is written on the socket as `node:http` would write it.
 */
export function laneStreams(parts: LaneStreamParts): LaneHandlers['stream'] {
  return (req, socket) => {
    const started = performance.now();
    const requestId = requestIdFrom(req.headers['x-request-id']);
    parts.requestIds.set(req, requestId);
    parts.connections.trackStream(socket);
    const cors = parts.cors.answerHeaders(req);
    if (parts.shutdown.refusing) {
      return refuse(parts, req, socket, shuttingDown(requestId, true), cors, started);
    }
    const transport = new LaneTransport(parts.server, socket, cors);
    parts.opener.open(req, transport).catch((error: unknown) => {
      transport.sink?.abandon();
      refuse(parts, req, socket, parts.opener.refusal(req, error), cors, started);
    });
  };
}

/** A stream on the lane's socket: its head written as `node:http` would, then chunks. */
class LaneTransport implements StreamTransport {
  sink: StreamSocketSink | undefined;

  constructor(
    private readonly server: Server,
    private readonly socket: Socket,
    private readonly cors: Record<string, string>,
  ) {}

  get gone(): boolean {
    return this.socket.destroyed;
  }

  openSink(onClose: () => void, idleProbes: boolean): StreamSocketSink {
    readyStreamSocket(this.socket, idleProbes);
    this.sink = new StreamSocketSink(this.socket, onClose);
    return this.sink;
  }

  start(headers: Record<string, string>): void {
    this.sink?.writeHead(streamHead(headers, this.cors, this.server.keepAliveTimeout));
  }
}

/**
 * Answers a refused subscription and logs it as the router logs refusals; the connection then
 * serves the client's next request (`node:http` reads it), unless the answer closes it.
 */
function refuse(
  parts: LaneStreamParts,
  req: LaneRequest,
  socket: Socket,
  error: HttpError,
  cors: Record<string, string>,
  started: number,
): void {
  if (parts.logger) {
    const requestId = parts.requestIds.get(req) ?? '';
    logAnswer(
      parts.logger,
      requestId,
      { method: req.method, url: req.url, httpVersion: '1.1' },
      error.status,
      started,
    );
  }
  if (socket.destroyed) return;
  const { bytes, closes } = errorAnswer(error, cors, parts.server.keepAliveTimeout);
  giveBackStreamSocket(socket, typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes, closes);
}
