import type { Hub } from '../hub/hub.js';
import {
  SUBSCRIPTIONS_PATH,
  WELL_KNOWN_HUB_PATH,
  documentIn,
  shapesOf,
  topicIn,
} from '../hub/subscription-format.js';
import type {
  ActiveSubscription,
  SubscriptionShape,
  SubscriptionsFormat,
} from '../hub/subscription-format.js';
import { MATCH_TYPES, SelectorCache } from '../hub/topic-selector.js';
import type { MatchType, TopicSelector } from '../hub/topic-selector.js';
import type { Authorizer } from './authorizer.js';
import { openAccess } from './authorizer.js';
import { answerFor, HttpError, sendError } from './errors.js';
import type { HubRequest } from './hub-request.js';
import { pathOf } from './request.js';
import type { RequestHandler } from './subscribe.js';

export { SUBSCRIPTIONS_PATH };

export interface SubscriptionsHandlerOptions {
  authorizer?: Authorizer | undefined;
  onError?(error: unknown): void;
}

/** A subscriptions API answer: the document (sent for GET, not for HEAD). */
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

/** Which subscriptions a request names: a test on an entry, and whether it names exactly one. */
interface Selection {
  accepts(entry: ActiveSubscription): boolean;
  single: boolean;
}

/**
 * Mercure's subscription API: `GET /.well-known/mercure/subscriptions`, and one selector's or one
 * subscription's documents, in draft-07's shape (`…/{topic}[/{subscriber}]`, JSON-LD with
 * `lastEventID`) or draft-08's (`…/{match_type}/{match}[/{subscriber}]`, plain JSON); each path part
 * percent-encoded. Every answer carries its cursor in `Link: <hub>; rel="mercure"; last-event-id=…`
 * too: the point to subscribe to subscription events from so that no change is missed.
 *
 * Access follows the token's subscribe rights, as for the private subscription events: the request
 * path must match one of its selectors (403 otherwise), and a subscription is listed only when its
 * event topic in the answer's shape matches one too, so a list never shows what its events would not.
 */
export function createSubscriptionsReader(
  hub: Hub,
  options: SubscriptionsHandlerOptions = {},
): SubscriptionsReader {
  const authorizer = options.authorizer ?? openAccess;
  // The hub's presence format decides, so that the API and the events always agree.
  const format = hub.subscriptionsFormat;
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
    const segments = segmentsOf(path);
    const shape = shapeFor(format, req, segments);
    const selection = shape === 'draft-07' ? draft07Selection(segments) : draft08Selection(segments);
    const grant = await authorizer.authorizeSubscriber(req, []);
    const rights = (grant.privateTopics ?? []).map((spec) => selectors.get(spec));
    if (!rights.some((selector) => selector.matches(path))) {
      throw new HttpError(403, `Forbidden: the token's subscribe rights do not cover ${path.slice(0, 200)}.`);
    }
    // Read together, in one synchronous step: the list is exactly the state as of lastEventID.
    const lastEventID = hub.lastEventId;
    const matching = hub
      .presence()
      .filter((entry) => selection.accepts(entry) && mayRead(rights, topicIn(shape, entry)));
    const body = documentOf(shape, path, selection, matching, lastEventID);
    const headers: Record<string, string> = {
      'Content-Type': shape === 'draft-07' ? 'application/ld+json' : 'application/json',
      'Cache-Control': 'private, must-revalidate',
      Link: `<${WELL_KNOWN_HUB_PATH}>; rel="mercure"; last-event-id="${quoted(lastEventID)}"`,
    };
    if (format === 'both') headers.Vary = 'Accept';
    return { text: JSON.stringify(body), headers };
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

function documentOf(
  shape: SubscriptionShape,
  path: string,
  selection: Selection,
  matching: ActiveSubscription[],
  lastEventID: string,
): Record<string, unknown> {
  const draft07 = shape === 'draft-07';
  if (selection.single) {
    const [entry] = matching;
    if (!entry) throw new HttpError(404, 'Not found: no such active subscription.');
    const document = documentIn(shape, entry, true);
    return draft07 ? { '@context': 'https://mercure.rocks/', ...document, lastEventID } : document;
  }
  const subscriptions = matching.map((entry) => documentIn(shape, entry, true));
  if (!draft07) return { type: 'subscriptions', id: path, subscriptions };
  return {
    '@context': 'https://mercure.rocks/',
    id: path,
    type: 'Subscriptions',
    lastEventID,
    subscriptions,
  };
}

/**
 * The shape a request is answered in. With `both`, a draft-08 member path (three parts) or an
 * `Accept` asking for plain JSON and not JSON-LD chooses draft-08; anything else keeps draft-07, so a
 * draft-07 client (which asks for JSON-LD, or for anything) never sees a document it cannot read.
 */
function shapeFor(format: SubscriptionsFormat, req: HubRequest, segments: string[]): SubscriptionShape {
  const [only] = shapesOf(format);
  if (format !== 'both') return only!;
  if (segments.length === 3) return 'draft-08';
  const accept = headerOf(req, 'accept');
  const ranges = new Set(acceptedTypes(accept));
  return ranges.has('application/json') && !ranges.has('application/ld+json') ? 'draft-08' : 'draft-07';
}

/** The media types an `Accept` header accepts (q above zero), lower-cased; at most 32 looked at. */
function acceptedTypes(accept: string | undefined): string[] {
  if (!accept) return [];
  return accept
    .split(',', 32)
    .map((range) => range.split(';'))
    .filter(([, ...params]) => !params.some((param) => /^\s*q\s*=\s*0(?:\.0*)?\s*$/i.test(param)))
    .map(([type]) => (type ?? '').trim().toLowerCase());
}

function headerOf(req: HubRequest, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

function mayRead(rights: readonly TopicSelector[], topic: string): boolean {
  return rights.some((selector) => selector.matches(topic));
}

/** The percent-decoded parts of a path after the collection's; 404 for an empty part. */
function segmentsOf(path: string): string[] {
  const rest = path.slice(SUBSCRIPTIONS_PATH.length);
  if (rest === '' || rest === '/') return [];
  const segments = rest.slice(1).split('/', 4);
  if (segments.length > 3 || segments.some((segment) => segment === '')) {
    throw new HttpError(404, `Not found: ${path.slice(0, 200)}.`);
  }
  try {
    return segments.map((segment) => decodeURIComponent(segment));
  } catch {
    throw new HttpError(400, 'Malformed percent-encoding in the subscription path.');
  }
}

/** Draft-07 paths: `…/{topic}` and `…/{topic}/{subscriber}`. */
function draft07Selection(segments: string[]): Selection {
  if (segments.length > 2)
    throw new HttpError(404, 'Not found: a draft-07 path has at most {topic}/{subscriber}.');
  const [topic, subscriber] = segments;
  return {
    single: subscriber !== undefined,
    accepts: (entry) =>
      (topic === undefined || entry.topic === topic) &&
      (subscriber === undefined || entry.subscriber === subscriber),
  };
}

/** Draft-08 paths: `…/{match_type}/{match}` and `…/{match_type}/{match}/{subscriber}`. */
function draft08Selection(segments: string[]): Selection {
  if (segments.length === 1) {
    throw new HttpError(404, 'Not found: a draft-08 path names {match_type}/{match}[/{subscriber}].');
  }
  const [matchType, match, subscriber] = segments;
  if (matchType !== undefined && !(MATCH_TYPES as readonly string[]).includes(matchType)) {
    throw new HttpError(400, `Unknown match_type: use one of ${MATCH_TYPES.join(', ')}.`);
  }
  const type = matchType as MatchType | undefined;
  return {
    single: subscriber !== undefined,
    accepts: (entry) =>
      (type === undefined || (entry.matchType === type && entry.topic === match)) &&
      (subscriber === undefined || entry.subscriber === subscriber),
  };
}

function quoted(value: string): string {
  return value.replace(/["\\]/g, (character) => `\\${character}`);
}
