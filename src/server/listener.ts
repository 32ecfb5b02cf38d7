import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createSecureServer } from 'node:http2';
import type { Http2SecureServer } from 'node:http2';
import { readFileSync } from 'node:fs';
import type { HubConfig } from './config.js';
import { ConfigError } from './config.js';
import { applyRequestTimeouts, connectionsCheckingInterval } from './timeouts.js';

export type HubHttpServer = Server | Http2SecureServer;

/**
 * The server the hub answers on: plain HTTP/1.1, or with a certificate and key HTTPS that speaks
 * HTTP/2 (and still HTTP/1.1). Requests are routed by whoever listens to its `request` event.
 */
export function createHttpServer(config: HubConfig): HubHttpServer {
  if (usesTls(config)) return secureServer(config.tlsCert as string, config.tlsKey as string);
  const plain = createServer({
    noDelay: true,
    // No TCP keep-alive on every connection: an idle one is closed after keepAliveTimeout, and a
    // stream's gets probes only when it needs them (see readyStreamSocket).
    connectionsCheckingInterval: connectionsCheckingInterval(config.requestTimeoutMs),
  });
  // Streams are exempt: see applyRequestTimeouts.
  applyRequestTimeouts(plain, config.requestTimeoutMs);
  return plain;
}

function secureServer(certFile: string, keyFile: string): Http2SecureServer {
  try {
    // The compatibility API gives handlers request/response objects shaped like node:http's;
    // browsers multiplex every stream of an origin on one connection instead of six.
    return createSecureServer({ cert: readFileSync(certFile), key: readFileSync(keyFile), allowHTTP1: true });
  } catch (error) {
    throw new ConfigError(`--tls-cert/--tls-key: ${(error as Error).message.split('\n')[0]}`);
  }
}

/** Whether the hub serves HTTPS (and HTTP/2): a certificate and its key are configured. */
export function usesTls(config: HubConfig): boolean {
  return config.tlsCert !== undefined && config.tlsKey !== undefined;
}

/** Routes the server's requests (HTTP/2 ones through the compatibility API) to one handler. */
export function onRequest(
  server: HubHttpServer,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): void {
  server.on('request', handler as unknown as (...args: unknown[]) => void);
}

/** Starts listening; resolves with the URL the hub answers on. */
export function listen(server: HubHttpServer, config: HubConfig): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: config.port, host: config.host, backlog: config.listenBacklog }, () => {
      server.off('error', reject);
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : config.port;
      const host = config.host.includes(':') ? `[${config.host}]` : config.host;
      resolve(`${usesTls(config) ? 'https' : 'http'}://${host}:${port}`);
    });
  });
}
