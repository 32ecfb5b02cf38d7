import type { Hub, SubscriptionStart, Subscription } from '../hub/hub.js';
import type { SubscriberSink } from '../hub/subscriber.js';
import { DEFAULT_MAX_TOPIC_LENGTH, DEFAULT_MAX_TOPICS } from '../defaults.js';
import { AdmissionRefusal, ConnectionAdmission, StreamOpenRate } from './admission.js';
import type { AdmissionOptions, StreamOpenRateOptions, StreamRefusal } from './admission.js';
import { subscriberIdOf } from '../hub/presence.js';
import type { Authorizer, SubscriberGrant } from './authorizer.js';
import { openAccess } from './authorizer.js';
import { answerFor, HttpError } from './errors.js';
import type { HubRequest } from './hub-request.js';
import { headerSafe, queryOf, utf8Header } from './request.js';

export interface SubscribeHandlerOptions extends AdmissionOptions, StreamOpenRateOptions {
  authorizer?: Authorizer;
  /** Most topic selectors in one subscription. Default 1000 (as the Mercure reference hub). */
  maxTopicsPerSubscription?: number;
  /** Longest accepted topic selector. Default 2048. */
  maxTopicLength?: number;
  /** Called with unexpected errors (for logs). */
  onError?(error: unknown): void;
  /** Called for each stream refused by an admission limit (for metrics). */
  onStreamRefused?(refusal: StreamRefusal): void;
  /**
   * Headers to add to this request's answer, stream or error. Given here rather than set with
   * `res.setHeader` beforehand, which would keep a header map alive for the stream's whole life.
   */
  extraHeaders?(req: HubRequest): Record<string, string>;
  /** A label for the request (e.g. its id), passed to the hub's observers for logs. */
  requestIdOf?(req: HubRequest): string | undefined;
}

/**
 * Where a subscriber's stream goes, as each server adapter provides it: node:http's response (its
 * socket taken over), or the `ReadableStream` of a Fetch `Response`.
 */
export interface StreamTransport {
  /** The client left already (it may, while it is being authorized). */
  readonly gone: boolean;
  /**
   * The sink of the stream's bytes; `onClose` runs once, when the stream's connection closes.
   * `idleProbes`: the hub sends no heartbeats, so a connection that can should probe its peer
   * when idle (TCP keep-alive) to find one that vanished.
   */
  openSink(onClose: () => void, idleProbes: boolean): SubscriberSink;
  /** Sends the stream's head: status 200 with these headers. History is ready by then. */
  start(headers: Record<string, string>): void;
}

/** The subscribe logic every server adapter shares: from a request to an open stream or a refusal. */
export interface StreamOpener {
  /** Opens the stream on `transport`; rejects (before the head is sent) to refuse it. */
  open(req: HubRequest, transport: StreamTransport): Promise<void>;
  /** The answer to a refused subscription (unexpected errors are reported to `onError`). */
  refusal(req: HubRequest, error: unknown): HttpError;
}

/**
 * `GET /.well-known/mercure?topic=…`: opens an event stream. Resumes after `Last-Event-ID` (header)
 * or `lastEventID` (query; draft-08's `last_event_id` and `Mercure-Last-Event-ID` too).
 */
export function createStreamOpener(hub: Hub, options: SubscribeHandlerOptions = {}): StreamOpener {
  const authorizer = options.authorizer ?? openAccess;
  const maxTopics = options.maxTopicsPerSubscription ?? DEFAULT_MAX_TOPICS;
  const maxTopicLength = options.maxTopicLength ?? DEFAULT_MAX_TOPIC_LENGTH;
  const admission = new ConnectionAdmission(options);
  const openRate = streamOpenRateOf(options);
  const failure = { action: 'Subscription failed', retryAfterSeconds: options.retryAfterSeconds ?? 1 };

  async function open(req: HubRequest, transport: StreamTransport): Promise<void> {
    // Express's app.get() routes HEAD here too, and a stream's head goes out only with its body:
    // the client would wait for ever while the stream held a subscriber.
    if (req.method === 'HEAD') {
      throw new HttpError(405, 'Method HEAD not allowed: use GET to subscribe.', { Allow: 'GET' });
    }
    // First: a refusal must cost less than what it protects (no parsing, no token verification).
    openRate?.check();
    const query = queryOf(req);
    const { topics, exactTopics, urlPatterns, all } = topicsOf(query, maxTopics, maxTopicLength);
    const lastEventId = lastEventIdOf(req, query);
    const { rewind, since } = startOf(query);
    const grant = await authorizer.authorizeSubscriber(req, all);
    const identity = hub.tracksPresence ? presenceOf(grant, query) : {};
    if (transport.gone) return;
    const connection = new StreamConnection(admission.admit(grant.subject));
    const sink = transport.openSink(connection.closed, hub.heartbeatIntervalMs === 0);
    connection.subscription = await hub.subscribe({
      tag: options.requestIdOf?.(req),
      topics,
      exactTopics,
      urlPatterns,
      lastEventId,
      rewind,
      since,
      sink,
      privateTopics: grant.privateTopics,
      expiresAt: grant.expiresAt,
      subject: grant.subject,
      ...identity,
      onStart: (start) => transport.start({ ...streamHeaders(start), ...options.extraHeaders?.(req) }),
    });
    if (connection.gone) connection.subscription.close('client');
  }

  function refusal(req: HubRequest, error: unknown): HttpError {
    const answer = answerFor(error, failure);
    if (answer.code === 'internal') options.onError?.(error);
    if (error instanceof AdmissionRefusal) options.onStreamRefused?.(error.refusal);
    const extra = options.extraHeaders?.(req);
    return extra ? answer.withHeaders(extra) : answer;
  }

  return { open, refusal };
}

/** The open-rate limit, when one is set. */
function streamOpenRateOf(options: StreamOpenRateOptions): StreamOpenRate | undefined {
  const rate = options.maxStreamOpensPerSecond ?? 0;
  return rate > 0 ? new StreamOpenRate(rate, options.streamOpenBurst) : undefined;
}

/**
 * What an open stream holds until its connection closes. A class of its own so that the close
 * listener does not keep the request handler's scope (and with it the request and the response).
 */
class StreamConnection {
  /** Unset while history is being read: the client may leave before the subscription exists. */
  subscription: Subscription | undefined;
  gone = false;

  constructor(private readonly releaseAdmission: () => void) {}

  readonly closed = (): void => {
    this.releaseAdmission();
    this.gone = true;
    this.subscription?.close('client');
  };
}

/**
 * `topic` (draft-07) is a selector: `*`, exact or URI template. Draft-08's `match` and `match_exact`
 * are byte-for-byte only, `match_urlpattern` a WHATWG URL Pattern (refused with 400 when invalid or
 * too complex to match in linear time); any other `match*` parameter is refused.
 */
function topicsOf(query: URLSearchParams, maxTopics: number, maxTopicLength: number): SubscribedTopics {
  // One pass over the query (not a getAll per name): each getAll scans it all again.
  const topics: string[] = [];
  const matches: string[] = [];
  const exactMatches: string[] = [];
  const urlPatterns: string[] = [];
  let unsupported: string | undefined;
  for (const [name, value] of query) {
    if (name === 'topic') topics.push(value);
    else if (name === 'match') matches.push(value);
    else if (name === 'match_exact') exactMatches.push(value);
    else if (name === 'match_urlpattern') urlPatterns.push(value);
    else if (unsupported === undefined && name.startsWith('match')) unsupported = name;
  }
  if (unsupported !== undefined) {
    throw new HttpError(
      400,
      `Unsupported parameter "${unsupported}": use "topic", "match", "match_exact" or "match_urlpattern".`,
    );
  }
  const exactTopics = exactMatches.length === 0 ? matches : matches.concat(exactMatches);
  const all =
    exactTopics.length + urlPatterns.length === 0 ? topics : topics.concat(exactTopics, urlPatterns);
  if (all.length === 0) throw new HttpError(400, 'Missing "topic" parameter.');
  if (all.length > maxTopics) throw new HttpError(400, `Too many topics: at most ${maxTopics}.`);
  if (urlPatterns.length > MAX_URL_PATTERNS) {
    throw new HttpError(400, `Too many "match_urlpattern" parameters: at most ${MAX_URL_PATTERNS}.`);
  }
  for (const topic of all) {
    if (topic === '') throw new HttpError(400, 'Empty "topic" parameter.');
    if (topic.length > maxTopicLength) {
      throw new HttpError(400, `Topic too long: at most ${maxTopicLength} characters.`);
    }
  }
  return { topics, exactTopics, urlPatterns, all };
}

/**
 * Most URL Patterns in one subscription. Compiling one costs about 60 µs (four URI templates' worth),
 * so a request of a thousand distinct ones would buy 60 ms of the hub's CPU and flush its cache.
 */
const MAX_URL_PATTERNS = 100;

interface SubscribedTopics {
  topics: string[];
  exactTopics: string[];
  urlPatterns: string[];
  /** All of them, in that order: what the authorizer checks. */
  all: string[];
}

/** RFC 3339 date-time: a date, `T`, a time with optional fraction, and `Z` or an offset. */
const RFC_3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * `rewind=N` (the last N events) and `since=<RFC 3339>` (events since a time), parsed only: the hub
 * checks the limits (a `rewind` over its maximum, both at once) and answers 400 itself.
 */
function startOf(query: URLSearchParams): { rewind?: number; since?: number } {
  const rewindText = query.get('rewind');
  const sinceText = query.get('since');
  const start: { rewind?: number; since?: number } = {};
  if (rewindText !== null) {
    if (!/^[0-9]{1,9}$/.test(rewindText))
      throw new HttpError(400, '"rewind" must be a non-negative integer.');
    start.rewind = Number(rewindText);
  }
  if (sinceText !== null) {
    const since = RFC_3339.test(sinceText) ? Date.parse(sinceText.toUpperCase()) : Number.NaN;
    if (Number.isNaN(since)) {
      throw new HttpError(400, '"since" must be an RFC 3339 time, e.g. 2025-01-31T12:00:00Z.');
    }
    start.since = since;
  }
  return start;
}

/**
 * The subscriber id and payload of a stream on a hub tracking presence: the id is stable across the
 * reconnects of a client presenting the same subject and `client_key` (see `subscriberIdOf`).
 */
function presenceOf(
  grant: SubscriberGrant,
  query: URLSearchParams,
): { subscriberId: string; payload?: unknown } {
  const clientKey = nonEmpty(query.get('client_key'));
  if (clientKey !== undefined && clientKey.length > MAX_CLIENT_KEY_LENGTH) {
    throw new HttpError(400, `"client_key" too long: at most ${MAX_CLIENT_KEY_LENGTH} characters.`);
  }
  const subscriberId = subscriberIdOf(grant.subject, clientKey);
  return grant.payload === undefined ? { subscriberId } : { subscriberId, payload: grant.payload };
}

const MAX_CLIENT_KEY_LENGTH = 256;

/**
 * The header wins over the query parameter (Mercure); draft-08 and legacy names are accepted. An
 * empty value counts as absent, as in the reference hub: it must not hide the next source.
 */
function lastEventIdOf(req: HubRequest, query: URLSearchParams): string | undefined {
  return (
    nonEmpty(utf8Header(req, 'last-event-id')) ??
    nonEmpty(utf8Header(req, 'mercure-last-event-id')) ??
    nonEmpty(query.get('lastEventID')) ??
    // EventSource polyfills (event-source-polyfill) add it under this name on every reconnect.
    nonEmpty(query.get('lastEventId')) ??
    nonEmpty(query.get('last_event_id')) ??
    nonEmpty(query.get('Last-Event-ID'))
  );
}

function nonEmpty(value: string | null | undefined): string | undefined {
  return value === null || value === '' ? undefined : value;
}

function streamHeaders(start: SubscriptionStart): Record<string, string> {
  const startAfter = headerSafe(start.startAfter);
  return {
    'Content-Type': 'text/event-stream',
    // `private`: the stream may be authorized by a token in its URL (a Mercure SHOULD); the rest:
    // no cache, shared or not, ever answers with a stored copy of a stream.
    'Cache-Control': 'private, no-cache, no-store, must-revalidate, max-age=0',
    // For HTTP/1.0 caches, which do not know Cache-Control (the reference hub sends it too).
    Pragma: 'no-cache',
    'X-Accel-Buffering': 'no',
    'Last-Event-ID': startAfter,
    'Mercure-Last-Event-ID': startAfter,
  };
}
