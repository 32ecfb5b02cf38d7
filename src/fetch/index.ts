/** `ssehub/fetch`: the hub's HTTP surface as a Fetch-API handler, for Bun, Deno, Hono, Next.js, …. */

/** `(request: Request) => Promise<Response>`: subscribe, publish, CORS preflights and disconnect. */
export { createFetchHandler } from './handler.js';
/** The Fetch handler's settings: those of `createMercureHandler`, and the disconnect path. */
export type { FetchHandlerOptions } from './handler.js';
/** A `(request: Request) => Promise<Response>` handler. */
export type { FetchHandler } from './handler.js';
