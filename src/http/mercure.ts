import type { Hub } from '../hub/hub.js';
import { HttpError, sendError } from './errors.js';
import { createPublishHandler } from './publish.js';
import type { PublishHandlerOptions } from './publish.js';
import { createSubscribeHandler } from './subscribe.js';
import type { RequestHandler, SubscribeHandlerOptions } from './subscribe.js';

export const MERCURE_PATH = '/.well-known/mercure';

export type MercureHandlerOptions = SubscribeHandlerOptions & PublishHandlerOptions;

/** One handler for the hub URL: GET subscribes, POST publishes, OPTIONS answers preflights. */
export function createMercureHandler(hub: Hub, options: MercureHandlerOptions = {}): RequestHandler {
  const subscribe = createSubscribeHandler(hub, options);
  const publish = createPublishHandler(hub, options);
  return (req, res) => {
    switch (req.method) {
      case 'GET':
        return subscribe(req, res);
      case 'POST':
        return publish(req, res);
      case 'OPTIONS':
        res.writeHead(204, { Allow: 'GET, POST, OPTIONS' });
        return res.end();
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
