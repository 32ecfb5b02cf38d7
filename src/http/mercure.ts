import type { Hub } from '../hub/hub.js';
import { CorsPolicy } from './cors.js';
import type { HttpError } from './errors.js';
import { sendError } from './errors.js';
import { mercureActionOf } from './mercure-action.js';
import type { MercureAction } from './mercure-action.js';
import { createPublisher, publishHandlerOf } from './publish.js';
import type { Publisher, PublishHandlerOptions } from './publish.js';
import { createStreamOpener } from './open-stream.js';
import type { StreamOpener } from './open-stream.js';
import { subscribeHandlerOf } from './subscribe.js';
import type { RequestHandler, SubscribeHandlerOptions } from './subscribe.js';

export const MERCURE_PATH = '/.well-known/mercure';

export type MercureHandlerOptions = SubscribeHandlerOptions &
  PublishHandlerOptions & {
    /** Origins allowed cross-origin (with credentials), or `['*']` for any without; default none. */
    corsOrigins?: readonly string[];
  };

/** One handler for the hub URL: GET subscribes, POST publishes, OPTIONS answers preflights. */
export function createMercureHandler(hub: Hub, options: MercureHandlerOptions = {}): RequestHandler {
  return createMercureEndpoint(hub, options).handler;
}

/**
 * The hub URL's node:http handler, with the stream opener, publisher and CORS policy it uses, for a
 * server that also serves them another way (the standalone hub's lane): both then share one set of
 * limits and counters.
 */
export function createMercureEndpoint(
  hub: Hub,
  options: MercureHandlerOptions = {},
): { handler: RequestHandler; opener: StreamOpener; publisher: Publisher; cors: CorsPolicy } {
  const opener = createStreamOpener(hub, options);
  const subscribe = subscribeHandlerOf(opener);
  const publisher = createPublisher(hub, options);
  const publish = publishHandlerOf(publisher, options);
  const cors = new CorsPolicy(options.corsOrigins ?? []);
  const handler: RequestHandler = (req, res) => {
    let action: MercureAction;
    try {
      action = mercureActionOf(req.method);
    } catch (error) {
      cors.apply(req, res);
      return sendError(res, error as HttpError);
    }
    if (action === 'preflight') return cors.preflight(req, res);
    cors.apply(req, res);
    return action === 'subscribe' ? subscribe(req, res) : publish(req, res);
  };
  return { handler, opener, publisher, cors };
}
