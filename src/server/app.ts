import { Server as HttpServer } from 'node:http';
import { Hub } from '../hub/hub.js';
import type { HubObserver } from '../hub/hub.js';
import { authorizerFromSettings } from '../auth/settings.js';
import { CorsPolicy } from '../http/cors.js';
import { createDisconnectHandler } from '../http/disconnect.js';
import { createMercureEndpoint, MERCURE_PATH } from '../http/mercure.js';
import { createSubscriptionsHandler } from '../http/subscriptions.js';
import { RedisPresenceLeases } from './redis-leases.js';
import type { Authorizer } from '../http/authorizer.js';
import { BodyBudget } from '../http/body-budget.js';
import { MemoryStore } from '../store/memory.js';
import type { Store } from '../store/types.js';
import { ConnectionTracker } from '../ops/connections.js';
import { readiness } from '../ops/health.js';
import type { Readiness } from '../ops/health.js';
import { loggingObserver } from '../ops/logger.js';
import type { Logger } from '../ops/logger.js';
import { ManagedStore } from '../ops/managed-store.js';
import { HubMetrics } from '../ops/metrics.js';
import { combineObservers } from '../ops/observers.js';
import { StatusBoard } from '../ops/status.js';
import { webhookLogs, webhookMetrics } from '../ops/webhook-metrics.js';
import { createWebhooks } from '../webhooks/webhooks.js';
import type { Webhooks } from '../webhooks/webhooks.js';
import type { WebhookQueue } from '../store/webhook-queue.js';
import type { HubStatus } from '../ops/status.js';
import type { HubConfig } from './config.js';
import { DEFAULT_CONFIG } from './config.js';
import { createHttpServer, listen, onRequest, usesTls } from './listener.js';
import type { HubHttpServer } from './listener.js';
import { attachRevocationHook } from './revocation.js';
import { createRouter } from './routes.js';
import { RequestIds } from './request-ids.js';
import { lanePublishes } from './lane-publishes.js';
import type { LanePublishParts } from './lane-publishes.js';
import { laneStreams } from './lane-streams.js';
import type { LaneStreamParts } from './lane-streams.js';
import { installStreamLane } from './stream-lane.js';
import { GracefulShutdown, InFlightPublishes } from './shutdown.js';

export interface HubServer {
  /** A node:http server, or with TLS configured a node:http2 secure server that also speaks HTTP/1.1. */
  readonly server: HubHttpServer;
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
  /**
   * Where webhook messages wait (config `webhooks`); default: in memory, lost on exit. The CLI
   * passes the store's durable queue (SQLite file, Redis). Closed with the server.
   */
  webhookQueue?: WebhookQueue;
  /**
   * Whether plain subscriptions and publishes on HTTP/1.1 connections skip `node:http`'s request
   * and response objects (see stream-lane.ts); default true. False serves every request through
   * `node:http`, as a library handler is served.
   */
  streamLane?: boolean;
}

/** The standalone hub: the Mercure endpoint, health, metrics, status, the demo page and its scripts. */
export function createHubServer(options: HubServerOptions = {}): HubServer {
  const config: HubConfig = { ...DEFAULT_CONFIG, ...options.config };
  const logger = options.logger;
  const onError = (error: unknown) => {
    logger?.error({ err: error }, 'unexpected error');
    options.onError?.(error);
  };
  const metrics = new HubMetrics();
  const store = managedStore(options.store ?? defaultStore(config), metrics, logger);
  const statusBoard = new StatusBoard();
  const observer = combineObservers(
    [metrics.observer, statusBoard.observer, logger && loggingObserver(logger), options.observer],
    onError,
  );
  const hub = hubFromConfig(config, store, observer, onError);
  const cors = new CorsPolicy(config.corsOrigins);
  const authorizer = authorizerFor(options, config, cors);
  const revocations = attachRevocationHook(store, authorizer, onError);
  const webhooks = attachWebhooks(hub, config, options.webhookQueue, metrics, logger);
  const requestIds = new RequestIds();
  const subscriptions = config.subscriptions
    ? createSubscriptionsHandler(hub, { authorizer, onError })
    : undefined;
  const { mercure, disconnect, bodyBudget, streams } = createHandlers(
    hub,
    config,
    authorizer,
    onError,
    requestIds,
    metrics,
  );

  const server = createHttpServer(config);
  const connections = new ConnectionTracker(server, usesTls(config), {
    maxNonStreamConnections: config.maxNonStreamConnections,
  });
  const publishes = new InFlightPublishes();
  const shutdown = new GracefulShutdown({
    server,
    hub,
    store,
    connections,
    publishes,
    drainDelayMs: config.drainDelayMs,
    logger,
    beforeStoreCloses: async () => {
      revocations.detach();
      await webhooks?.close();
    },
  });
  const { readinessNow, status } = healthViews({
    store,
    hub,
    connections,
    shutdown,
    statusBoard,
    metrics,
    bodyBudget,
  });
  // What the router and the lane both serve requests with.
  const serving = { shutdown, publishes, connections, requestIds, logger };
  onRequest(
    server,
    createRouter({
      ...serving,
      mercure,
      disconnect,
      subscriptions,
      cors,
      readiness: readinessNow,
      status,
      metrics: config.metrics ? metrics : undefined,
      serveDemo: config.demo,
      onError,
    }),
  );
  attachStreamLane(server, options.streamLane, { ...streams, ...serving });
  return {
    server,
    hub,
    authorization: options.authorizer ? 'custom' : authorizer ? 'jwt' : 'open',
    metrics,
    get draining() {
      return shutdown.draining;
    },
    readiness: readinessNow,
    status,
    listen: async () => {
      // A hub that starts after a cut-off refuses the revoked tokens from its first request.
      await revocations.learned;
      return listen(server, config);
    },
    close: (timeoutMs = config.shutdownTimeoutMs) => shutdown.run(timeoutMs),
  };
}

/** The stream lane in front of a plain HTTP server (see stream-lane.ts), unless turned off. */
function attachStreamLane(
  server: HubHttpServer,
  enabled: boolean | undefined,
  parts: Omit<LaneStreamParts & LanePublishParts, 'server'>,
): void {
  if (!(server instanceof HttpServer) || enabled === false) return;
  installStreamLane(server, MERCURE_PATH, {
    stream: laneStreams({ server, ...parts }),
    publish: lanePublishes({ server, ...parts }),
  });
}

/** The authorizer given, else the configuration's; throws KeyConfigError for an unusable key before anything listens. */
function authorizerFor(options: HubServerOptions, config: HubConfig, cors: CorsPolicy) {
  return (
    options.authorizer ??
    authorizerFromSettings({
      ...config,
      allowsCredentialsFrom: (origin) => cors.allowsCredentialsFrom(origin),
    })
  );
}

/** The hub the standalone server runs, with the configuration's delivery and presence settings. */
function hubFromConfig(
  config: HubConfig,
  store: Store,
  observer: HubObserver,
  onError: (error: unknown) => void,
): Hub {
  return new Hub({
    store,
    presence: config.subscriptions && {
      leaseMs: config.presenceLeaseMs,
      graceMs: config.presenceGraceMs,
      format: config.subscriptionsFormat,
      // Leases on Redis's clock when hubs share Redis; in this process otherwise.
      leases: config.redisUrl ? new RedisPresenceLeases(config.redisUrl, config.redisPrefix) : undefined,
    },
    onError,
    retryMs: config.retryMs,
    heartbeatIntervalMs: config.heartbeatMs,
    maxBufferedBytes: config.maxBufferedBytes,
    topics: config.topics,
    maxRewind: config.maxRewind,
    idempotencyWindowMs: config.idempotencyWindowMs,
    observer,
  });
}

/** Webhooks as the config file's `webhooks` section asks, counted in metrics and logged. */
function attachWebhooks(
  hub: Hub,
  config: HubConfig,
  queue: WebhookQueue | undefined,
  metrics: HubMetrics,
  logger: Logger | undefined,
): Webhooks | undefined {
  if (!config.webhooks) {
    void queue?.close();
    return undefined;
  }
  // The counters need the endpoints' names, known once the webhooks are created.
  const hooks: { counters?: ReturnType<typeof webhookMetrics> } = {};
  const logs = logger && webhookLogs(logger);
  const webhooks = createWebhooks(hub, {
    ...config.webhooks,
    queue,
    observer: {
      delivered: (...args) => hooks.counters?.delivered(...args),
      attemptFailed: (...args) => {
        hooks.counters?.attemptFailed(...args);
        logs?.attemptFailed(...args);
      },
      dropped: (...args) => {
        hooks.counters?.dropped(...args);
        logs?.dropped(...args);
      },
      queueFailed: (...args) => logs?.queueFailed(...args),
    },
  });
  hooks.counters = webhookMetrics(metrics.registry, webhooks.endpoints, (endpoint) =>
    webhooks.depth(endpoint),
  );
  return webhooks;
}

interface ServerParts {
  store: ManagedStore;
  hub: Hub;
  connections: ConnectionTracker;
  shutdown: GracefulShutdown;
  statusBoard: StatusBoard;
  metrics: HubMetrics;
  bodyBudget: BodyBudget;
}

/** Readiness, the status panel and the metrics gauges, each read from the live parts when asked. */
function healthViews(parts: ServerParts): { readinessNow: () => Readiness; status: () => HubStatus } {
  const { store, hub, connections, shutdown, statusBoard, metrics, bodyBudget } = parts;
  const readinessNow = () =>
    readiness({
      storeKind: store.kind,
      storeReady: () => store.isReady(),
      draining: () => shutdown.draining,
    });
  const status = () =>
    statusBoard.snapshot({
      connections: () => connections.size,
      subscriptions: () => hub.stats().subscribers,
      storeKind: store.kind,
      storeReady: () => store.isReady(),
      readiness: readinessNow,
      draining: () => shutdown.draining,
    });
  metrics.bind({
    connections: () => connections.size,
    subscriptions: () => hub.stats().subscribers,
    ready: () => readinessNow().ready,
    requestBodyBytes: () => bodyBudget.heldBytes,
    presence: () => hub.presenceStats(),
  });
  return { readinessNow, status };
}

function defaultStore(config: HubConfig): Store {
  return new MemoryStore({
    historySize: config.historySize,
    maxAgeMs: config.historyMaxAgeMs > 0 ? config.historyMaxAgeMs : undefined,
  });
}

/** The store as the server uses it: each failed operation counted and logged. */
function managedStore(store: Store, metrics: HubMetrics, logger: Logger | undefined): ManagedStore {
  return new ManagedStore(store, (operation, error) => {
    metrics.storeErrors.inc({ operation });
    logger?.warn({ operation, err: error }, 'store operation failed');
  });
}

/** The Mercure and disconnect endpoints, sharing one budget for every body the hub reads. */
function createHandlers(
  hub: Hub,
  config: HubConfig,
  authorizer: Authorizer | undefined,
  onError: (error: unknown) => void,
  requestIds: RequestIds,
  metrics: HubMetrics,
) {
  const bodyBudget = new BodyBudget(config.maxBodyBytesInFlight);
  const extraHeaders = (req: object) => ({ 'X-Request-Id': requestIds.get(req) ?? '' });
  const { handler: mercure, ...streams } = createMercureEndpoint(hub, {
    authorizer,
    maxBodyBytes: config.maxBodyBytes,
    bodyTimeoutMs: config.bodyTimeoutMs,
    bodyBudget,
    maxTopicsPerSubscription: config.maxTopicsPerSubscription,
    maxTopicLength: config.maxTopicLength,
    maxConnections: config.maxConnections,
    maxConnectionsPerSubject: config.maxConnectionsPerSubject,
    maxStreamOpensPerSecond: config.maxStreamOpensPerSecond,
    streamOpenBurst: config.streamOpenBurst,
    onStreamRefused: (refusal) => metrics.streamsRefused.inc({ refusal }),
    corsOrigins: config.corsOrigins,
    onError,
    extraHeaders,
    requestIdOf: (req) => requestIds.get(req),
  });
  const disconnect = createDisconnectHandler(hub, {
    authorizer,
    onError,
    bodyTimeoutMs: config.bodyTimeoutMs,
    bodyBudget,
  });
  return { mercure, disconnect, bodyBudget, streams: { ...streams, extraHeaders } };
}
