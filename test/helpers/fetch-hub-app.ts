// The server side of the black-box suite (test/helpers/black-box.ts): one hub behind the Fetch
// handler, configured as the suite expects, plus `GET /__stats` for what only the server can see.
// Runs unchanged on Node (vitest), Bun and Deno (test/helpers/runtime-server.ts).
// By package name, as the examples import it: under vitest `ssehub/*` is the built package, and the
// authorizer's errors must be the same classes as the handlers' (on Bun and Deno, the sources).
import { Hub, MemoryStore } from 'ssehub';
import type { Store } from 'ssehub';
import { JwtAuthorizer, keyVerifier, parseVerificationKey } from 'ssehub/auth';
import { createFetchHandler } from 'ssehub/fetch';
import type { FetchHandlerOptions } from 'ssehub/fetch';

/** What every server under the black-box suite is configured with. */
export const BLACK_BOX = {
  secret: 'black-box-secret-of-at-least-thirty-two-bytes',
  corsOrigin: 'https://app.example',
  maxBufferedBytes: 256 * 1024,
  maxBodyBytes: 128 * 1024,
  heartbeatIntervalMs: 200,
  historySize: 5000,
} as const;

export interface BlackBoxServerSide {
  hub: Hub;
  /** The hub's handler options: the same for the Fetch handler and the node:http one. */
  handlerOptions: FetchHandlerOptions;
  /** `{ subscribers, slow }`: open subscribers, and how many were dropped as slow. */
  stats(): { subscribers: number; slow: number };
}

export function blackBoxServerSide(store: Store = new MemoryStore({ historySize: BLACK_BOX.historySize })) {
  let slow = 0;
  const hub = new Hub({
    store,
    maxBufferedBytes: BLACK_BOX.maxBufferedBytes,
    heartbeatIntervalMs: BLACK_BOX.heartbeatIntervalMs,
    observer: { unsubscribed: (_subscriber, reason) => void (reason === 'slow' && slow++) },
  });
  const key = parseVerificationKey(BLACK_BOX.secret, 'black-box key', ['HS256']);
  const verifier = keyVerifier(key, { leewaySeconds: 0 });
  const authorizer = new JwtAuthorizer({ publisher: verifier, subscriber: verifier });
  const handlerOptions: FetchHandlerOptions = {
    authorizer,
    corsOrigins: [BLACK_BOX.corsOrigin],
    maxBodyBytes: BLACK_BOX.maxBodyBytes,
  };
  return {
    hub,
    handlerOptions,
    stats: () => ({ subscribers: hub.stats().subscribers, slow }),
  } satisfies BlackBoxServerSide;
}

/** The whole server as one Fetch handler: the hub everywhere, `/__stats` for the suite. */
export function blackBoxFetchApp(side = blackBoxServerSide()): (request: Request) => Promise<Response> {
  return withStats(side, createFetchHandler(side.hub, side.handlerOptions));
}

/** A Fetch app (a framework's, an example's) with `GET /__stats` in front of it. */
export function withStats(
  side: BlackBoxServerSide,
  app: (request: Request) => Response | Promise<Response>,
): (request: Request) => Promise<Response> {
  return async (request) => {
    if (new URL(request.url).pathname === '/__stats') return Response.json(side.stats());
    return app(request);
  };
}
