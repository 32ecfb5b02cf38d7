// The hub of a Next.js app, shared by its route handlers. Kept on globalThis: Next may evaluate a
// module more than once in one server process (dev reloads, separate route bundles), and there
// must be one hub. Configure it at start-up (instrumentation.ts) with configureHub, or take the default.
import { Hub } from 'ssehub';
import { createFetchHandler } from 'ssehub/fetch';
import type { FetchHandler, FetchHandlerOptions } from 'ssehub/fetch';

const shared = globalThis as typeof globalThis & { ssehub?: { hub: Hub; handler: FetchHandler } };

export function configureHub(hub: Hub, options: FetchHandlerOptions = {}): Hub {
  shared.ssehub = { hub, handler: createFetchHandler(hub, options) };
  return hub;
}

export function hub(): Hub {
  return (shared.ssehub ?? { hub: configureHub(new Hub()) }).hub;
}

export function mercure(request: Request): Promise<Response> {
  if (shared.ssehub === undefined) configureHub(new Hub());
  return (shared.ssehub as { handler: FetchHandler }).handler(request);
}
