/** `ssehub/http`: `node:http` handlers (also usable with Express) for a hub you create. */

/** One handler for the hub URL: GET subscribes, POST publishes, OPTIONS answers CORS preflights. */
export { createMercureHandler } from './mercure.js';
/** The Mercure handler's settings: those of subscribe and publish, and the CORS origins. */
export type { MercureHandlerOptions } from './mercure.js';
/** The hub's path, `/.well-known/mercure`. */
export { MERCURE_PATH } from './mercure.js';
/** `GET`: opens an event stream, resuming after `Last-Event-ID`. */
export { createSubscribeHandler } from './subscribe.js';
/** The subscribe handler's settings: authorizer, topic and connection limits. */
export type { SubscribeHandlerOptions } from './subscribe.js';
/** `GET /.well-known/mercure/subscriptions…`: Mercure's active subscriptions API, for a hub tracking presence. */
export { createSubscriptionsHandler } from './subscriptions.js';
/** The subscriptions handler's settings: the authorizer (access follows subscribe rights). */
export type { SubscriptionsHandlerOptions } from './subscriptions.js';
/** The subscriptions API's path, `/.well-known/mercure/subscriptions`. */
export { SUBSCRIPTIONS_PATH } from './subscriptions.js';
/** A `(req, res)` handler. */
export type { RequestHandler } from './subscribe.js';
/** `POST`: stores a form-encoded update and answers with its id. */
export { createPublishHandler } from './publish.js';
/** The publish handler's settings: authorizer and body limits. */
export type { PublishHandlerOptions } from './publish.js';
/** `POST` with a `subject`: closes every stream of that subject on every hub sharing the store. */
export { createDisconnectHandler } from './disconnect.js';
/** The disconnect handler's settings. */
export type { DisconnectHandlerOptions } from './disconnect.js';
/** The disconnect endpoint's path, `/.well-known/mercure/disconnect`. */
export { DISCONNECT_PATH } from './disconnect.js';
/** A bound on request body bytes held at once; share one between handlers to bound them together. */
export { BodyBudget } from './body-budget.js';
/** Decides who may subscribe and publish: implement it, or use `ssehub/auth`. */
export type { Authorizer } from './authorizer.js';
/** What the hub reads of a request (method, path and query, headers), whichever server received it. */
export type { HubRequest } from './hub-request.js';
/** What an authorized subscriber may do: private topics, expiry, subject. */
export type { SubscriberGrant } from './authorizer.js';
/** The optional ability of an authorizer to refuse a cut-off subject's older tokens. */
export type { RevocationSink } from './authorizer.js';
/** The authorizer of an open hub: anyone may subscribe to public updates and publish. */
export { openAccess } from './authorizer.js';
/** Thrown by an authorizer to refuse: a status, a one-line reason, headers and a `code`. */
export { HttpError } from './errors.js';
