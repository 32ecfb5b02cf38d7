import type { Hub } from '../hub/hub.js';
import { CorsPolicy } from './cors.js';
import type { HttpError } from './errors.js';
import { sendError } from './errors.js';
import { mercureActionOf } from './mercure-action.js';
import type { MercureAction } from './mercure-action.js';
import { createPublishHandler } from './publish.js';
import type { PublishHandlerOptions } from './publish.js';
import { createSubscribeHandler } from './subscribe.js';
import type { RequestHandler, SubscribeHandlerOptions } from './subscribe.js';

export const MERCURE_PATH = '/.well-known/mercure';

export type MercureHandlerOptions = SubscribeHandlerOptions &
  PublishHandlerOptions & {
    /** Origins allowed cross-origin (with credentials), or `['*']` for any without; default none. */
    corsOrigins?: readonly string[];
  };

/** One handler for the hub URL: GET subscribes, POST publishes, OPTIONS answers preflights. */
export function createMercureHandler(hub: Hub, options: MercureHandlerOptions = {}): RequestHandler {
  const subscribe = createSubscribeHandler(hub, options);
  const publish = createPublishHandler(hub, options);
  const cors = new CorsPolicy(options.corsOrigins ?? []);
  return (req, res) => {
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
}
