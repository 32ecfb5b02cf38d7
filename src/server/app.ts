import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createSecureServer } from 'node:http2';
import type { Http2SecureServer } from 'node:http2';
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { dirname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hub } from '../hub/hub.js';
import type { HubObserver } from '../hub/hub.js';
import { authorizerFromSettings } from '../auth/settings.js';
import { CorsPolicy } from '../http/cors.js';
import { createDisconnectHandler, DISCONNECT_PATH } from '../http/disconnect.js';
import { createMercureHandler, MERCURE_PATH } from '../http/mercure.js';
import type { Authorizer } from '../http/authorizer.js';
import { HttpError, sendError } from '../http/errors.js';
import { MemoryStore } from '../store/memory.js';
import type { Store } from '../store/types.js';
import { ConnectionTracker } from '../ops/connections.js';
import { readiness } from '../ops/health.js';
import type { Readiness } from '../ops/health.js';
import { loggingObserver, requestContext, requestIdFrom } from '../ops/logger.js';
import type { Logger } from '../ops/logger.js';
import { ManagedStore } from '../ops/managed-store.js';
import { HubMetrics } from '../ops/metrics.js';
import { combineObservers } from '../ops/observers.js';
import { StatusBoard } from '../ops/status.js';
import type { HubStatus } from '../ops/status.js';
import { BodyBudget } from '../http/body-budget.js';
import type { HubConfig } from './config.js';
import { ConfigError, DEFAULT_CONFIG } from './config.js';
import { attachRevocationHook } from './revocation.js';
import { applyRequestTimeouts, connectionsCheckingInterval } from './timeouts.js';

export interface HubServer {
  /** A node:http server, or with TLS configured a node:http2 secure server that also speaks HTTP/1.1. */
  readonly server: Server | Http2SecureServer;
  readonly hub: Hub;
  /** `open`: no key configured, anyone may publish and subscribe (development). */
  readonly authorization: 'open' | 'jwt' | 'custom';
  readonly metrics: HubMetrics;
  /** Starts listening; resolves with the URL the hub answers on. */
  listen(): Promise<string>;
  /** Whether shutdown has begun (readiness answers 503). */
  readonly draining: boolean;
  readiness(): Readiness;
  status(): HubStatus;
  /**
   * Graceful shutdown: readiness turns 503, no new connection is accepted, in-flight publishes
   * finish, then every stream ends after its queued events (clients reconnect elsewhere and
   * resume), and the store is closed. Connections still open after `timeoutMs` (default
   * `shutdownTimeoutMs`) are destroyed. Idempotent.
   */
  close(timeoutMs?: number): Promise<void>;
}

export interface HubServerOptions {
  config?: Partial<HubConfig>;
  store?: Store;
  authorizer?: Authorizer;
  observer?: HubObserver;
  /** Structured logs (see `createLogger`); default: none. */
  logger?: Logger;
  onError?(error: unknown): void;
}

const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const STATIC_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
};

/** The standalone hub: the Mercure endpoint, health, metrics, status, the demo page and its scripts. */
export function createHubServer(options: HubServerOptions = {}): HubServer {
  const config: HubConfig = { ...DEFAULT_CONFIG, ...options.config };
  const logger = options.logger;
  const onError = (error: unknown) => {
    logger?.error({ err: error, requestId: requestContext.getStore()?.requestId }, 'unexpected error');
    options.onError?.(error);
  };
  const metrics = new HubMetrics();
  const store = new ManagedStore(
    options.store ??
      new MemoryStore({
        historySize: config.historySize,
        maxAgeMs: config.historyMaxAgeMs > 0 ? config.historyMaxAgeMs : undefined,
      }),
    (operation, error) => {
      metrics.storeErrors.inc({ operation });
      logger?.warn({ operation, err: error }, 'store operation failed');
    },
  );
  const statusBoard = new StatusBoard();
  const hub = new Hub({
    store,
    retryMs: config.retryMs,
    heartbeatIntervalMs: config.heartbeatMs,
    maxBufferedBytes: config.maxBufferedBytes,
    observer: combineObservers(
      [metrics.observer, statusBoard.observer, logger && loggingObserver(logger), options.observer],
      onError,
    ),
  });
  const cors = new CorsPolicy(config.corsOrigins);
  // Throws KeyConfigError for an unusable key before anything listens.
  const authorizer =
    options.authorizer ??
    authorizerFromSettings({
      ...config,
      allowsCredentialsFrom: (origin) => cors.allowsCredentialsFrom(origin),
    });
  // One budget for every body the hub reads, publish and disconnect alike.
  const bodyBudget = new BodyBudget(config.maxBodyBytesInFlight);
  const mercure = createMercureHandler(hub, {
    authorizer,
    maxBodyBytes: config.maxBodyBytes,
    bodyTimeoutMs: config.bodyTimeoutMs,
    bodyBudget,
    maxTopicsPerSubscription: config.maxTopicsPerSubscription,
    maxTopicLength: config.maxTopicLength,
    maxConnections: config.maxConnections,
    maxConnectionsPerSubject: config.maxConnectionsPerSubject,
    corsOrigins: config.corsOrigins,
    onError,
    extraHeaders: (req) => ({ 'X-Request-Id': requestIds.get(req) ?? '' }),
  });
  const disconnect = createDisconnectHandler(hub, {
    authorizer,
    onError,
    bodyTimeoutMs: config.bodyTimeoutMs,
    bodyBudget,
  });
  const revocations = attachRevocationHook(store, authorizer, onError);

  /** Readiness is 503 (load balancers stop routing here); requests are still served. */
  let draining = false;
  /** New Mercure requests are refused; streams are about to end. */
  let refusing = false;
  let publishesInFlight = 0;
  const publishesSettled = new Set<() => void>();
  const readinessNow = () =>
    readiness({ storeKind: store.kind, storeReady: () => store.isReady(), draining: () => draining });

  const requestIds = new WeakMap<IncomingMessage, string>();
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const requestId = requestIdFrom(req.headers['x-request-id']);
    const stream = req.method === 'GET' && isHubPath(req);
    // Event streams add it to their own head: a header set now would be kept for the stream's life.
    if (stream) requestIds.set(req, requestId);
    else res.setHeader('X-Request-Id', requestId);
    connections.trackRequest(req, res, stream);
    if (logger) logRequest(logger, requestId, req, res);
    requestContext.run({ requestId }, () => route(req, res));
  };

  const route = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path === MERCURE_PATH) {
      if (refusing) {
        return sendError(
          res,
          new HttpError(503, 'Shutting down: reconnect to another instance.', {
            'Retry-After': '1',
            // An HTTP/2 response must not carry connection-specific headers.
            ...(req.httpVersionMajor === 1 ? { Connection: 'close' } : {}),
          }),
        );
      }
      if (req.method === 'POST') {
        publishesInFlight++;
        res.once('close', () => {
          publishesInFlight--;
          if (publishesInFlight === 0) for (const settled of [...publishesSettled]) settled();
        });
      }
      return mercure(req, res);
    }
    if (path === DISCONNECT_PATH) {
      if (req.method === 'OPTIONS') return cors.preflight(req, res);
      cors.apply(req, res);
      return disconnect(req, res);
    }
    if (path === '/healthz') return sendProbe(req, res, 200, 'ok: process alive');
    if (path === '/readyz') {
      const now = readinessNow();
      return sendProbe(req, res, now.ready ? 200 : 503, now.reason);
    }
    if (path === '/status') return sendJson(req, res, status());
    if (path === '/metrics' && config.metrics) {
      metrics.render().then(
        (text) => sendText(req, res, 200, metrics.contentType, text),
        (error: unknown) => {
          onError(error);
          sendError(res, new HttpError(500, 'Metrics unavailable.'));
        },
      );
      return;
    }
    if (
      config.demo &&
      (path.startsWith('/demo/') ||
        path.startsWith('/client/') ||
        path.startsWith('/protocol/') ||
        path === '/')
    ) {
      return void serveDemo(req, res, path);
    }
    sendError(res, new HttpError(404, `Not found: ${path}. The hub is at ${MERCURE_PATH}.`));
  };

  const tls = config.tlsCert !== undefined && config.tlsKey !== undefined;
  const server = tls ? secureServer(config.tlsCert as string, config.tlsKey as string) : plainServer();
  const connections = new ConnectionTracker(server, tls, {
    maxNonStreamConnections: config.maxNonStreamConnections,
  });
  metrics.bind({
    connections: () => connections.size,
    subscriptions: () => hub.stats().subscribers,
    ready: () => readinessNow().ready,
    requestBodyBytes: () => bodyBudget.heldBytes,
  });
  const status = () =>
    statusBoard.snapshot({
      connections: () => connections.size,
      subscriptions: () => hub.stats().subscribers,
      storeKind: store.kind,
      storeReady: () => store.isReady(),
      readiness: readinessNow,
      draining: () => draining,
    });

  function plainServer(): Server {
    const plain = createServer(
      {
        noDelay: true,
        keepAlive: true,
        connectionsCheckingInterval: connectionsCheckingInterval(config.requestTimeoutMs),
      },
      handle,
    );
    // Streams are exempt: see applyRequestTimeouts.
    applyRequestTimeouts(plain, config.requestTimeoutMs);
    return plain;
  }

  function secureServer(certFile: string, keyFile: string): Http2SecureServer {
    try {
      // The compatibility API gives handlers request/response objects shaped like node:http's;
      // browsers multiplex every stream of an origin on one connection instead of six.
      return createSecureServer(
        { cert: readFileSync(certFile), key: readFileSync(keyFile), allowHTTP1: true },
        handle as unknown as Parameters<typeof createSecureServer>[1],
      );
    } catch (error) {
      throw new ConfigError(`--tls-cert/--tls-key: ${(error as Error).message.split('\n')[0]}`);
    }
  }

  function waitForPublishes(deadline: number): Promise<boolean> {
    if (publishesInFlight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(false), Math.max(0, deadline - Date.now()));
      const settled = () => finish(true);
      const finish = (done: boolean) => {
        clearTimeout(timer);
        publishesSettled.delete(settled);
        resolve(done);
      };
      publishesSettled.add(settled);
    });
  }

  let closing: Promise<void> | undefined;
  const shutdown = async (timeoutMs: number): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    draining = true;
    const delayMs = Math.min(config.drainDelayMs, timeoutMs);
    logger?.info(
      { subscriptions: hub.stats().subscribers, publishesInFlight, timeoutMs, drainDelayMs: delayMs },
      'shutting down: readiness is 503',
    );
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    refusing = true;
    logger?.info('shutting down: no new connections or requests, waiting for in-flight publishes');
    const stoppedListening = new Promise<void>((resolve) => {
      if (!server.listening) return resolve();
      server.close(() => resolve());
    });
    connections.drain();
    if (!(await waitForPublishes(deadline))) {
      logger?.warn({ publishesInFlight }, 'shutdown: publishes still in flight at the deadline');
    }
    // Past this point an acknowledged publish could reach no stream of this instance.
    store.refuseAppends('hub is shutting down; publish to another instance');
    await hub.close();
    connections.drain();
    if (!(await connections.whenEmpty(deadline))) {
      logger?.warn(
        { connections: connections.size },
        'shutdown: closing connections still open at the deadline',
      );
      connections.destroyAll();
    }
    await stoppedListening;
    revocations.detach();
    await store.close();
    logger?.info('shutdown complete');
  };

  let url = '';
  return {
    server,
    hub,
    authorization: options.authorizer ? 'custom' : authorizer ? 'jwt' : 'open',
    metrics,
    get draining() {
      return draining;
    },
    readiness: readinessNow,
    status,
    listen: async () => {
      // A hub that starts after a cut-off refuses the revoked tokens from its first request.
      await revocations.learned;
      return new Promise<string>((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.port, config.host, () => {
          server.off('error', reject);
          const address = server.address();
          const port = typeof address === 'object' && address ? address.port : config.port;
          const host = config.host.includes(':') ? `[${config.host}]` : config.host;
          url = `${tls ? 'https' : 'http'}://${host}:${port}`;
          resolve(url);
        });
      });
    },
    close: (timeoutMs = config.shutdownTimeoutMs) => (closing ??= shutdown(timeoutMs)),
  };
}

/** One line per answered request; event streams are logged by the hub observer instead. */
function logRequest(logger: Logger, requestId: string, req: IncomingMessage, res: ServerResponse): void {
  const started = performance.now();
  res.once('finish', () => {
    if (String(res.getHeader('content-type') ?? '').startsWith('text/event-stream')) return;
    const fields = {
      requestId,
      method: req.method,
      path: (req.url ?? '/').split('?')[0],
      status: res.statusCode,
      durationMs: Math.round((performance.now() - started) * 10) / 10,
      httpVersion: req.httpVersion,
    };
    if (res.statusCode >= 500) logger.warn(fields, 'request failed');
    else if (res.statusCode >= 400) logger.info(fields, 'request refused');
    else logger.debug(fields, 'request');
  });
}

function sendProbe(req: IncomingMessage, res: ServerResponse, status: number, reason: string): void {
  sendText(req, res, status, 'text/plain; charset=utf-8', reason + '\n');
}

function sendJson(req: IncomingMessage, res: ServerResponse, value: unknown): void {
  sendText(req, res, 200, 'application/json', JSON.stringify(value));
}

function sendText(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  type: string,
  body: string,
): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return sendError(
      res,
      new HttpError(405, `Method ${req.method ?? ''} not allowed here.`, { Allow: 'GET, HEAD' }),
    );
  }
  res.writeHead(status, {
    'Content-Type': type,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

async function serveDemo(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return sendError(
      res,
      new HttpError(405, `Method ${req.method ?? ''} not allowed here.`, { Allow: 'GET, HEAD' }),
    );
  }
  // The page is in public/; its compiled scripts (demo, client and the parser it uses) are in dist/.
  const file =
    path === '/'
      ? join(PACKAGE_ROOT, 'public', 'index.html')
      : normalize(join(PACKAGE_ROOT, 'dist', path.slice(1)));
  if (!file.startsWith(PACKAGE_ROOT + sep)) return sendError(res, new HttpError(404, `Not found: ${path}.`));
  let body: Buffer;
  try {
    body = await readFile(file);
  } catch {
    return sendError(res, new HttpError(404, `Not found: ${path} (run npm run build for the demo scripts).`));
  }
  const extension = file.slice(file.lastIndexOf('.'));
  res.writeHead(200, {
    'Content-Type': STATIC_TYPES[extension] ?? 'application/octet-stream',
    'Content-Length': body.length,
    'Cache-Control': 'no-cache',
    // Mercure discovery: the page advertises its hub.
    ...(path === '/' ? { Link: `<${MERCURE_PATH}>; rel="mercure"` } : {}),
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function isHubPath(req: IncomingMessage): boolean {
  const url = req.url ?? '/';
  const query = url.indexOf('?');
  return (query === -1 ? url : url.slice(0, query)) === MERCURE_PATH;
}
