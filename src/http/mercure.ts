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

/** What a request to the hub URL asks for, by its method; shared by the node:http and Fetch adapters. */
export type MercureAction = 'preflight' | 'subscribe' | 'publish';

/** The action of a method on the hub URL; any other method is answered 405 (thrown). */
export function mercureActionOf(method: string | undefined): MercureAction {
  switch (method) {
    case 'OPTIONS':
      return 'preflight';
    case 'GET':
      return 'subscribe';
    case 'POST':
      return 'publish';
    default:
      throw new HttpError(
        405,
        `Method ${method ?? ''} not allowed: use GET to subscribe or POST to publish.`,
        {
          Allow: 'GET, POST, OPTIONS',
        },
      );
  }
}

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
