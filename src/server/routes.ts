import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CorsPolicy } from '../http/cors.js';
import { DISCONNECT_PATH } from '../http/disconnect.js';
import { HttpError, sendError } from '../http/errors.js';
import { MERCURE_PATH } from '../http/mercure.js';
import { isSubscriptionsPath } from '../http/subscriptions.js';
import type { RequestHandler } from '../http/subscribe.js';
import type { ConnectionTracker } from '../ops/connections.js';
import type { Readiness } from '../ops/health.js';
import { requestIdFrom } from '../ops/logger.js';
import type { Logger } from '../ops/logger.js';
import type { HubMetrics } from '../ops/metrics.js';
import type { HubStatus } from '../ops/status.js';
import { isDemoPath, serveDemoFile } from './demo-files.js';
import { sendJson, sendProbe, sendText } from './respond.js';
import type { GracefulShutdown, InFlightPublishes } from './shutdown.js';
import type { RequestIds } from './request-ids.js';
import { pathOf } from '../http/request.js';

export interface Routes {
  /** The Mercure endpoint: GET subscribes, POST publishes. */
  mercure: RequestHandler;
  disconnect: RequestHandler;
  /** The subscriptions API; absent when the hub does not track them (404). */
  subscriptions: RequestHandler | undefined;
  /** CORS for the disconnect endpoint (the Mercure handler applies its own). */
  cors: CorsPolicy;
  readiness(): Readiness;
  status(): HubStatus;
  /** Absent: /metrics is not served. */
  metrics: HubMetrics | undefined;
  serveDemo: boolean;
  shutdown: GracefulShutdown;
  publishes: InFlightPublishes;
  connections: ConnectionTracker;
  /** Each request's id: for an event stream's head, and for the hub's log lines about it. */
  requestIds: RequestIds;
  logger: Logger | undefined;
  onError(error: unknown): void;
}

/**
 * The standalone hub's requests: each gets a request id (echoed in `X-Request-Id` and the logs), is
 * tracked for shutdown, and goes to its path's handler.
 */
export function createRouter(routes: Routes): (req: IncomingMessage, res: ServerResponse) => void {
  const route = (req: IncomingMessage, res: ServerResponse): void => {
    const path = pathOf(req);
    if (path === MERCURE_PATH) return routeHub(routes, req, res);
    if (path === DISCONNECT_PATH) {
      if (req.method === 'OPTIONS') return routes.cors.preflight(req, res);
      routes.cors.apply(req, res);
      return routes.disconnect(req, res);
    }
    if (routes.subscriptions && isSubscriptionsPath(path)) {
      if (req.method === 'OPTIONS') return routes.cors.preflight(req, res);
      routes.cors.apply(req, res);
      return routes.subscriptions(req, res);
    }
    if (path === '/healthz') return sendProbe(req, res, 200, 'ok: process alive');
    if (path === '/readyz') {
      const now = routes.readiness();
      return sendProbe(req, res, now.ready ? 200 : 503, now.reason);
    }
    if (path === '/status') return sendJson(req, res, routes.status());
    if (path === '/metrics' && routes.metrics) return serveMetrics(routes.metrics, routes.onError, req, res);
    if (routes.serveDemo && isDemoPath(path)) return void serveDemoFile(req, res, path);
    sendError(res, new HttpError(404, `Not found: ${path}. The hub is at ${MERCURE_PATH}.`));
  };

  return (req, res) => {
    const requestId = requestIdFrom(req.headers['x-request-id']);
    const onHub = pathOf(req) === MERCURE_PATH;
    const stream = onHub && req.method === 'GET';
    // Event streams and publishes add it to their own answers (the Mercure handler's extraHeaders):
    // a header set now would be kept for a stream's life, and makes Node merge every publish's head.
    routes.requestIds.set(req, requestId);
    if (!onHub || (req.method !== 'GET' && req.method !== 'POST')) res.setHeader('X-Request-Id', requestId);
    routes.connections.trackRequest(req, res, stream);
    if (routes.logger) logRequest(routes.logger, requestId, req, res);
    route(req, res);
  };
}

/** The Mercure endpoint, refused once shutdown has begun; publishes are counted until answered. */
function routeHub(routes: Routes, req: IncomingMessage, res: ServerResponse): void {
  if (routes.shutdown.refusing) {
    return sendError(res, shuttingDown(routes.requestIds.get(req) ?? '', req.httpVersionMajor === 1));
  }
  if (req.method === 'POST') routes.publishes.track(res);
  routes.mercure(req, res);
}

/** The answer of the hub endpoint once shutdown has begun. */
export function shuttingDown(requestId: string, http1: boolean): HttpError {
  return new HttpError(503, 'Shutting down: reconnect to another instance.', {
    'Retry-After': '1',
    'X-Request-Id': requestId,
    // An HTTP/2 response must not carry connection-specific headers.
    ...(http1 ? { Connection: 'close' } : {}),
  });
}

function serveMetrics(
  metrics: HubMetrics,
  onError: (error: unknown) => void,
  req: IncomingMessage,
  res: ServerResponse,
): void {
  metrics.render().then(
    (text) => sendText(req, res, 200, metrics.contentType, text),
    (error: unknown) => {
      onError(error);
      sendError(res, new HttpError(500, 'Metrics unavailable.'));
    },
  );
}

/** One line per answered request; event streams are logged by the hub observer instead. */
function logRequest(logger: Logger, requestId: string, req: IncomingMessage, res: ServerResponse): void {
  const started = performance.now();
  res.on('finish', () => {
    if (String(res.getHeader('content-type') ?? '').startsWith('text/event-stream')) return;
    logAnswer(logger, requestId, req, res.statusCode, started);
  });
}

/**
 * The log line of an answered request that `performance.now()` was `started` at. The fields are
 * written out, not spread from another object: a spread with more fields after it takes V8's slow
 * path (see `withPolicy` in the publish path).
 */
export function logAnswer(
  logger: Logger,
  requestId: string,
  req: { method?: string | undefined; url?: string | undefined; httpVersion: string },
  status: number,
  started: number,
): void {
  // An answered request is a debug line: its fields are not even gathered unless debug is on.
  if (status < 400 && !logger.isLevelEnabled('debug')) return;
  const fields = {
    requestId,
    method: req.method,
    path: pathOf(req),
    status,
    durationMs: Math.round((performance.now() - started) * 10) / 10,
    httpVersion: req.httpVersion,
  };
  if (status >= 500) logger.warn(fields, 'request failed');
  else if (status >= 400) logger.info(fields, 'request refused');
  else logger.debug(fields, 'request');
}
