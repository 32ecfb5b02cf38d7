import type { HubRequest } from './hub-request.js';
import type { SelectorSpec } from '../hub/topic-selector.js';

/** What an authenticated subscriber may do, as established from its request (e.g. a JWT). */
export interface SubscriberGrant {
  /**
   * Selectors whose private updates this subscriber may receive (a bare string is a draft-07
   * selector; draft-08 grants carry their `match_type`). They also decide which subscriptions of
   * others it may see (the subscriptions API and events).
   */
  privateTopics?: readonly SelectorSpec[] | undefined;
  /** When the grant ends (ms since the epoch); the stream is closed then. */
  expiresAt?: number | undefined;
  /** Who the subscriber is, so all its streams can be cut off at once. */
  subject?: string | undefined;
  /** Any JSON the grant attaches to the subscriber (`mercure.payload`), shown in its subscriptions. */
  payload?: unknown;
}

/**
 * Decides who may subscribe and publish. Methods throw an HttpError (401, 403, 429, …) to refuse.
 * Without an authorizer the hub is open: anyone may subscribe to public updates and publish.
 */
export interface Authorizer {
  authorizeSubscriber(req: HubRequest, topics: readonly string[]): Promise<SubscriberGrant>;
  /**
   * Optional first step of a publish (and of a disconnect), from the request's headers and URL
   * alone, before its body is read: refuse a request that could not publish anything (no token, a
   * bad one, one without any publish right), so that an unauthenticated client cannot make the
   * hub read and hold its body. Without it the body is read first (still within the hub's limits).
   */
  authenticatePublisher?(req: HubRequest): Promise<void>;
  /** The decisive check, once the body has given the topics; called after `authenticatePublisher`. */
  authorizePublisher(req: HubRequest, topics: readonly string[]): Promise<void>;
}

/**
 * An optional ability of an authorizer: refusing a subject's tokens issued up to a moment, so that a
 * client cut off through the disconnect endpoint cannot reconnect with the token it had. The
 * standalone hub feeds it every cut-off, from any hub sharing the store.
 */
export interface RevocationSink {
  revokeSubject(subject: string, atMs: number): void;
}

/** Whether an authorizer (or anything) can take revocations: found by its shape, not its class. */
export function isRevocationSink(value: unknown): value is RevocationSink {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Partial<RevocationSink>).revokeSubject === 'function'
  );
}

/** No checks at all: anyone may subscribe to public updates and publish (a development hub). */
export const openAccess: Authorizer = {
  authorizeSubscriber: () => Promise.resolve({}),
  authenticatePublisher: () => Promise.resolve(),
  authorizePublisher: () => Promise.resolve(),
};
