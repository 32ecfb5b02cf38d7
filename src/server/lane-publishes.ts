import type { Server } from 'node:http';
import { takeWholeBody } from '../http/body.js';
import type { CorsPolicy } from '../http/cors.js';
import type { HttpError } from '../http/errors.js';
import type { RequestBody } from '../http/hub-request.js';
import { PUBLISHED_HEADERS } from '../http/publish.js';
import type { Publisher } from '../http/publish.js';
import { answerBytes, errorAnswer, headerLines, headFromLines } from '../http/raw-answer.js';
import type { ConnectionTracker } from '../ops/connections.js';
import { requestIdFrom } from '../ops/logger.js';
import type { Logger } from '../ops/logger.js';
import { logAnswer, shuttingDown } from './routes.js';
import type { RequestIds } from './request-ids.js';
import type { GracefulShutdown, InFlightPublishes } from './shutdown.js';
import type { LaneExchange, LaneHandlers, LaneRequest } from './stream-lane.js';

export interface LanePublishParts {
  server: Server;
  /** The Mercure endpoint's publisher and CORS policy (`createMercureEndpoint`). */
  publisher: Publisher;
  cors: CorsPolicy;
  /** The headers the endpoint adds to each of its answers (the request id). */
  extraHeaders(req: LaneRequest): Record<string, string>;
  shutdown: GracefulShutdown;
  publishes: InFlightPublishes;
  connections: ConnectionTracker;
  requestIds: RequestIds;
  logger: Logger | undefined;
}

/** A published answer's fixed lines, as `sendText` gives them to `writeHead`. */
const PUBLISHED_LINES = headerLines(PUBLISHED_HEADERS);
const NO_BODY = Buffer.alloc(0);

/**
 * Serves the publishes the stream lane takes as the router and the Mercure handler serve the
 * others: a request id, connection and in-flight tracking, the shutdown refusal, CORS, then the
 * endpoint's publisher. The answer, the event's id or a refusal, is written as `node:http` writes
 * it: the same status line and headers in the same order.
 */
export function lanePublishes(parts: LanePublishParts): LaneHandlers['publish'] {
  return (req, exchange) => {
    const started = performance.now();
    parts.requestIds.set(req, requestIdFrom(req.headers['x-request-id']));
    const cors = parts.cors.answerHeaders(req);
    if (parts.shutdown.refusing) {
      const refusal = shuttingDown(parts.requestIds.get(req) ?? '', true);
      return refuse(parts, req, exchange, refusal, cors, started);
    }
    parts.connections.laneRequestStarted(exchange.socket);
    const inFlight = parts.publishes.begin();
    const body = new LaneBody(req.body ?? NO_BODY);
    parts.publisher.publish(req, body).then(
      (id) => {
        log(parts, req, 200, started);
        const keepOpen = parts.connections.laneRequestEnded(exchange.socket);
        exchange.answer(published(parts, req, cors, id), !keepOpen);
        body.answered();
        inFlight();
      },
      (error: unknown) => {
        const refusal = parts.publisher.refusal(error).withHeaders(parts.extraHeaders(req));
        refuse(parts, req, exchange, refusal, cors, started);
        body.answered();
        inFlight();
      },
    );
  };
}

/** 200 with the event's id, as `sendText` answers it (CORS headers first, as `setHeader` put them). */
function published(
  parts: LanePublishParts,
  req: LaneRequest,
  cors: Record<string, string>,
  id: string,
): Buffer | string {
  const lines =
    headerLines(cors) +
    PUBLISHED_LINES +
    `Content-Length: ${Buffer.byteLength(id)}\r\n` +
    headerLines(parts.extraHeaders(req));
  return answerBytes(`${headFromLines(200, lines, false, parts.server.keepAliveTimeout)}\r\n`, id);
}

function refuse(
  parts: LanePublishParts,
  req: LaneRequest,
  exchange: LaneExchange,
  error: HttpError,
  cors: Record<string, string>,
  started: number,
): void {
  log(parts, req, error.status, started);
  const { bytes, closes } = errorAnswer(error, cors, parts.server.keepAliveTimeout);
  const keepOpen = parts.connections.laneRequestEnded(exchange.socket);
  exchange.answer(bytes, closes || !keepOpen);
}

function log(parts: LanePublishParts, req: LaneRequest, status: number, started: number): void {
  if (parts.logger === undefined) return;
  const requestId = parts.requestIds.get(req) ?? '';
  logAnswer(
    parts.logger,
    requestId,
    { method: req.method, url: req.url, httpVersion: '1.1' },
    status,
    started,
  );
}

/** A publish's body, whole: it arrived with the request's head. */
export class LaneBody implements RequestBody {
  readonly parsed = undefined;
  private onAnswer: (() => void) | undefined;

  constructor(private readonly bytes: Buffer) {}

  read(limits: Parameters<RequestBody['read']>[0]): Promise<Buffer> {
    return takeWholeBody(this.bytes, limits);
  }

  onAnswered(callback: () => void): void {
    const earlier = this.onAnswer;
    this.onAnswer =
      earlier === undefined
        ? callback
        : () => {
            earlier();
            callback();
          };
  }

  answered(): void {
    this.onAnswer?.();
    this.onAnswer = undefined;
  }
}
