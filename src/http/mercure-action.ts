import { HttpError } from './errors.js';

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
