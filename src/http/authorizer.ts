import type { IncomingMessage } from 'node:http';

/** What an authenticated subscriber may do, as established from its request (e.g. a JWT). */
export interface SubscriberGrant {
  /** Selectors whose private updates this subscriber may receive. */
  privateTopics?: readonly string[] | undefined;
  /** When the grant ends (ms since the epoch); the stream is closed then. */
  expiresAt?: number | undefined;
  /** Who the subscriber is, so all its streams can be cut off at once. */
  subject?: string | undefined;
}

/**
 * Decides who may subscribe and publish. Methods throw an HttpError (401, 403, 429, …) to refuse.
 * Without an authorizer the hub is open: anyone may subscribe to public updates and publish.
 */
export interface Authorizer {
  authorizeSubscriber(req: IncomingMessage, topics: readonly string[]): Promise<SubscriberGrant>;
  authorizePublisher(req: IncomingMessage, topics: readonly string[]): Promise<void>;
}

export const openAccess: Authorizer = {
  authorizeSubscriber: () => Promise.resolve({}),
  authorizePublisher: () => Promise.resolve(),
};
