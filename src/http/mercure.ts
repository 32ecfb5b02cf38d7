import type { Hub } from '../hub/hub.js';
import { CorsPolicy } from './cors.js';
import { HttpError, sendError } from './errors.js';
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
    if (req.method === 'OPTIONS') return cors.preflight(req, res);
    cors.apply(req, res);
    switch (req.method) {
      case 'GET':
        return subscribe(req, res);
      case 'POST':
        return publish(req, res);
      default:
        return sendError(
          res,
          new HttpError(
            405,
            `Method ${req.method ?? ''} not allowed: use GET to subscribe or POST to publish.`,
            {
              Allow: 'GET, POST, OPTIONS',
            },
          ),
        );
    }
  };
}
