import type { Hub } from '../hub/hub.js';
import { SUBSCRIPTIONS_PATH, subscriptionDocument } from '../hub/presence.js';
import type { ActiveSubscription } from '../hub/presence.js';
import { SelectorCache } from '../hub/topic-selector.js';
import type { TopicSelector } from '../hub/topic-selector.js';
import type { Authorizer } from './authorizer.js';
import { openAccess } from './authorizer.js';
import { answerFor, HttpError, sendError } from './errors.js';
import type { HubRequest } from './hub-request.js';
import type { RequestHandler } from './subscribe.js';

export { SUBSCRIPTIONS_PATH };

export interface SubscriptionsHandlerOptions {
  authorizer?: Authorizer | undefined;
  onError?(error: unknown): void;
}

/** A subscriptions API answer: the JSON-LD document (sent for GET, not for HEAD). */
export interface SubscriptionsAnswer {
  text: string;
  headers: Record<string, string>;
}

/** The subscriptions API logic every server adapter shares: from a request to its document. */
export interface SubscriptionsReader {
  /** The document the request asks for; rejects to refuse it (405, 403, 404, 400). */
  answer(req: HubRequest): Promise<SubscriptionsAnswer>;
  /** The answer to a refused request (unexpected errors are reported to `onError`). */
  refusal(error: unknown): HttpError;
}

/** Whether a path is the subscriptions API's (the collection or one of its members). */
export function isSubscriptionsPath(path: string): boolean {
  return path === SUBSCRIPTIONS_PATH || path.startsWith(`${SUBSCRIPTIONS_PATH}/`);
}

/**
 * Mercure's subscription API: `GET /.well-known/mercure/subscriptions`, `…/{topic}` and
 * `…/{topic}/{subscriber}` (each part percent-encoded), answered as JSON-LD with `lastEventID`, the
 * point to subscribe to subscription events from so that no change is missed.
 *
 * Access follows the token's subscribe rights, as for the private subscription events: the request
 * path must match one of its selectors (403 otherwise), and a subscription is listed only when its
 * event topic matches one too, so a collection never shows what its events would not.
 */
export function createSubscriptionsReader(
  hub: Hub,
  options: SubscriptionsHandlerOptions = {},
): SubscriptionsReader {
  const authorizer = options.authorizer ?? openAccess;
  const selectors = new SelectorCache(1000);
  const failure = { action: 'Subscriptions unavailable', retryAfterSeconds: 1 };

  function refusal(error: unknown): HttpError {
    const answer = answerFor(error, failure);
    if (answer.code === 'internal') options.onError?.(error);
    return answer;
  }

  async function answer(req: HubRequest): Promise<SubscriptionsAnswer> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      throw new HttpError(405, `Method ${req.method ?? ''} not allowed: use GET.`, { Allow: 'GET, HEAD' });
    }
    const path = pathOf(req);
    const { topic, subscriber } = partsOf(path);
    const grant = await authorizer.authorizeSubscriber(req, []);
    const rights = (grant.privateTopics ?? []).map((spec) => selectors.get(spec));
    if (!rights.some((selector) => selector.matches(path))) {
      throw new HttpError(403, `Forbidden: the token's subscribe rights do not cover ${path.slice(0, 200)}.`);
    }
    // Read together, in one synchronous step: the list is exactly the state as of lastEventID.
    const lastEventID = hub.lastEventId;
    const visible = hub.presence().filter((entry) => mayRead(rights, entry));
    const matching = visible.filter(
      (entry) =>
        (topic === undefined || entry.topic === topic) &&
        (subscriber === undefined || entry.subscriber === subscriber),
    );
    let body: Record<string, unknown>;
    if (subscriber !== undefined) {
      const [entry] = matching;
      if (!entry) throw new HttpError(404, 'Not found: no such active subscription.');
      body = { '@context': 'https://mercure.rocks/', ...subscriptionDocument(entry, true), lastEventID };
    } else {
      body = {
        '@context': 'https://mercure.rocks/',
        id: path,
        type: 'Subscriptions',
        lastEventID,
        subscriptions: matching.map((entry) => subscriptionDocument(entry, true)),
      };
    }
    return {
      text: JSON.stringify(body),
      headers: { 'Content-Type': 'application/ld+json', 'Cache-Control': 'private, must-revalidate' },
    };
  }

  return { answer, refusal };
}

/** The subscriptions API on node:http: see `createSubscriptionsReader`, the logic shared with Fetch. */
export function createSubscriptionsHandler(
  hub: Hub,
  options: SubscriptionsHandlerOptions = {},
): RequestHandler {
  const reader = createSubscriptionsReader(hub, options);
  return (req, res) => {
    reader.answer(req).then(
      ({ text, headers }) => {
        res.writeHead(200, { ...headers, 'Content-Length': Buffer.byteLength(text) });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (error: unknown) => sendError(res, reader.refusal(error)),
    );
  };
}

function mayRead(rights: readonly TopicSelector[], entry: ActiveSubscription): boolean {
  return rights.some((selector) => selector.matches(entry.id));
}

function pathOf(req: HubRequest): string {
  const url = req.url ?? '/';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/** The topic and subscriber a path names, percent-decoded; 404 for any other shape. */
function partsOf(path: string): { topic?: string; subscriber?: string } {
  const rest = path.slice(SUBSCRIPTIONS_PATH.length);
  if (rest === '' || rest === '/') return {};
  const segments = rest.slice(1).split('/');
  if (segments.length > 2 || segments.some((segment) => segment === '')) {
    throw new HttpError(404, `Not found: ${path.slice(0, 200)}.`);
  }
  try {
    const [topic, subscriber] = segments.map((segment) => decodeURIComponent(segment));
    return subscriber === undefined ? { topic } : { topic, subscriber };
  } catch {
    throw new HttpError(400, 'Malformed percent-encoding in the subscription path.');
  }
}
