import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import { dirname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hub } from '../hub/hub.js';
import type { HubObserver } from '../hub/hub.js';
import { JwtAuthorizer } from '../auth/jwt-authorizer.js';
import { authorizerFromSettings } from '../auth/settings.js';
import { controlCommandOf, isControlEvent } from '../hub/control.js';
import { CorsPolicy } from '../http/cors.js';
import { createDisconnectHandler, DISCONNECT_PATH } from '../http/disconnect.js';
import { createMercureHandler, MERCURE_PATH } from '../http/mercure.js';
import type { Authorizer } from '../http/authorizer.js';
import { HttpError, sendError } from '../http/errors.js';
import { MemoryStore } from '../store/memory.js';
import type { Store } from '../store/types.js';
import type { HubConfig } from './config.js';
import { DEFAULT_CONFIG } from './config.js';

export interface HubServer {
  readonly server: Server;
  readonly hub: Hub;
  /** `open`: no key configured, anyone may publish and subscribe (development). */
  readonly authorization: 'open' | 'jwt' | 'custom';
  /** Starts listening; resolves with the URL the hub answers on. */
  listen(): Promise<string>;
  /** Ends every stream (clients resume elsewhere), stops accepting, closes the store. */
  close(): Promise<void>;
}

export interface HubServerOptions {
  config?: Partial<HubConfig>;
  store?: Store;
  authorizer?: Authorizer;
  observer?: HubObserver;
  onError?(error: unknown): void;
}

const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const STATIC_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
};

/** The standalone hub: the Mercure endpoint, the demo page and its scripts. */
export function createHubServer(options: HubServerOptions = {}): HubServer {
  const config: HubConfig = { ...DEFAULT_CONFIG, ...options.config };
  const store =
    options.store ??
    new MemoryStore({
      historySize: config.historySize,
      maxAgeMs: config.historyMaxAgeMs > 0 ? config.historyMaxAgeMs : undefined,
    });
  const hub = new Hub({
    store,
    retryMs: config.retryMs,
    heartbeatIntervalMs: config.heartbeatMs,
    maxBufferedBytes: config.maxBufferedBytes,
    observer: options.observer,
  });
  const cors = new CorsPolicy(config.corsOrigins);
  // Throws KeyConfigError for an unusable key before anything listens.
  const authorizer =
    options.authorizer ??
    authorizerFromSettings({
      ...config,
      allowsCredentialsFrom: (origin) => cors.allowsCredentialsFrom(origin),
    });
  const mercure = createMercureHandler(hub, {
    authorizer,
    maxBodyBytes: config.maxBodyBytes,
    maxTopicsPerSubscription: config.maxTopicsPerSubscription,
    maxTopicLength: config.maxTopicLength,
    maxConnections: config.maxConnections,
    maxConnectionsPerSubject: config.maxConnectionsPerSubject,
    corsOrigins: config.corsOrigins,
    onError: options.onError,
  });
  const disconnect = createDisconnectHandler(hub, { authorizer, onError: options.onError });
  // Every hub sharing the store hears a cut-off, so each refuses the subject's older tokens.
  const detachRevocations =
    authorizer instanceof JwtAuthorizer
      ? store.onEvent((event) => {
          const command = isControlEvent(event) ? controlCommandOf(event) : undefined;
          if (command?.action === 'disconnect') authorizer.revokeSubject(command.subject, event.time);
        })
      : () => undefined;

  const server = createServer({ noDelay: true, keepAlive: true }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path === MERCURE_PATH) return mercure(req, res);
    if (path === DISCONNECT_PATH) {
      if (req.method === 'OPTIONS') return cors.preflight(req, res);
      cors.apply(req, res);
      return disconnect(req, res);
    }
    if (config.demo && (path.startsWith('/demo/') || path.startsWith('/client/') || path === '/')) {
      return serveDemo(req, res, path);
    }
    sendError(res, new HttpError(404, `Not found: ${path}. The hub is at ${MERCURE_PATH}.`));
  });
  // Long-lived streams must not be cut by Node's request timeouts.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;

  let url = '';
  return {
    server,
    hub,
    authorization: options.authorizer ? 'custom' : authorizer ? 'jwt' : 'open',
    listen: () =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.port, config.host, () => {
          server.off('error', reject);
          const address = server.address();
          const port = typeof address === 'object' && address ? address.port : config.port;
          const host = config.host.includes(':') ? `[${config.host}]` : config.host;
          url = `http://${host}:${port}`;
          resolve(url);
        });
      }),
    close: async () => {
      detachRevocations();
      await hub.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await store.close();
    },
  };
}

async function serveDemo(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return sendError(
      res,
      new HttpError(405, `Method ${req.method ?? ''} not allowed here.`, { Allow: 'GET, HEAD' }),
    );
  }
  // The page is in public/; its compiled scripts (demo and client) are in dist/.
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
