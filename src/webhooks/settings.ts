import { SsehubError } from '../errors.js';
import { compileTypedSelector } from '../hub/topic-selector.js';
import type { TopicSelector } from '../hub/topic-selector.js';
import { SECRET_RULE, signingKeyOf } from './signature.js';

/** What a webhook can be sent for. */
export const WEBHOOK_EVENT_TYPES = [
  /** A topic selector gained its first active subscription (needs presence). */
  'topic.occupied',
  /** A topic selector lost its last active subscription (needs presence). */
  'topic.vacant',
  /** A subscription became active (needs presence). */
  'subscription.active',
  /** A subscription became inactive (needs presence). */
  'subscription.inactive',
  /** An update was published (on the topics the endpoint's `topics` select). */
  'update.published',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** One receiver of webhooks. */
export interface WebhookEndpoint {
  /** `https://…` (or `http://…`) URL the messages are POSTed to; no credentials in it. */
  url: string;
  /** The shared secret, `whsec_` + base64 of 24 to 64 random bytes (Standard Webhooks). */
  secret: string;
  /** The events sent to it. */
  events: readonly WebhookEventType[];
  /**
   * Topic selectors (`*`, exact topics, URI templates) limiting the events: an update's topics, or
   * the subscribed selector of a presence event, must match one. Default: every topic.
   */
  topics?: readonly string[] | undefined;
  /**
   * The endpoint's name in logs, metrics and the queue: pending messages belong to it, so keep it
   * when the URL changes. Default: the URL without its query.
   */
  name?: string | undefined;
}

/** Webhook settings that cannot be used; the message is one line naming the field (never the secret). */
export class WebhookConfigError extends SsehubError {
  readonly code = 'invalid_input';

  constructor(message: string) {
    super(message);
    this.name = 'WebhookConfigError';
  }
}

export interface ResolvedEndpoint {
  readonly name: string;
  readonly url: string;
  readonly key: Buffer;
  readonly events: ReadonlySet<WebhookEventType>;
  readonly selectors: readonly TopicSelector[] | undefined;
}

const NAME_PATTERN = /^[A-Za-z0-9._:/-]{1,200}$/;
const ENDPOINT_FIELDS = ['url', 'secret', 'events', 'topics', 'name'];
export const PRESENCE_EVENT_TYPES: ReadonlySet<WebhookEventType> = new Set([
  'topic.occupied',
  'topic.vacant',
  'subscription.active',
  'subscription.inactive',
]);

/** Checks the endpoints (from JSON or code); throws WebhookConfigError naming the first problem. */
export function resolveEndpoints(endpoints: unknown): ResolvedEndpoint[] {
  if (!Array.isArray(endpoints) || endpoints.length === 0) {
    throw new WebhookConfigError('webhooks.endpoints: expected a non-empty array of endpoints');
  }
  const resolved = endpoints.map((endpoint, index) =>
    resolveEndpoint(endpoint, `webhooks.endpoints[${index}]`),
  );
  const names = new Set<string>();
  for (const [index, { name }] of resolved.entries()) {
    if (names.has(name)) {
      throw new WebhookConfigError(
        `webhooks.endpoints[${index}].name: "${name}" is used twice (give each endpoint its own name)`,
      );
    }
    names.add(name);
  }
  return resolved;
}

function resolveEndpoint(endpoint: unknown, where: string): ResolvedEndpoint {
  if (endpoint === null || typeof endpoint !== 'object' || Array.isArray(endpoint)) {
    throw new WebhookConfigError(`${where}: expected an object with url, secret and events`);
  }
  const fields = endpoint as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    if (!ENDPOINT_FIELDS.includes(key)) {
      throw new WebhookConfigError(`${where}: unknown field "${key}" (known: ${ENDPOINT_FIELDS.join(', ')})`);
    }
  }
  const url = urlOf(fields.url, `${where}.url`);
  if (typeof fields.secret !== 'string')
    throw new WebhookConfigError(`${where}.secret: expected ${SECRET_RULE}`);
  const key = signingKeyOf(fields.secret);
  if (!key) throw new WebhookConfigError(`${where}.secret: expected ${SECRET_RULE}`);
  const name = fields.name === undefined ? defaultName(url) : fields.name;
  if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
    throw new WebhookConfigError(`${where}.name: expected 1 to 200 of A-Z a-z 0-9 . _ : / -`);
  }
  return {
    name,
    url: url.href,
    key,
    events: eventsOf(fields.events, `${where}.events`),
    selectors: selectorsOf(fields.topics, `${where}.topics`),
  };
}

function urlOf(value: unknown, where: string): URL {
  let url: URL;
  try {
    if (typeof value !== 'string') throw new TypeError();
    url = new URL(value);
  } catch {
    throw new WebhookConfigError(`${where}: expected an absolute http:// or https:// URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new WebhookConfigError(`${where}: expected an absolute http:// or https:// URL`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new WebhookConfigError(`${where}: must not carry credentials (the secret authenticates the hub)`);
  }
  return url;
}

function defaultName(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

function eventsOf(value: unknown, where: string): Set<WebhookEventType> {
  const known = WEBHOOK_EVENT_TYPES as readonly string[];
  if (!Array.isArray(value) || value.length === 0) {
    throw new WebhookConfigError(`${where}: expected a non-empty array of ${known.join(', ')}`);
  }
  for (const type of value) {
    if (typeof type !== 'string' || !known.includes(type)) {
      throw new WebhookConfigError(
        `${where}: unknown event ${JSON.stringify(type)} (known: ${known.join(', ')})`,
      );
    }
  }
  return new Set(value as WebhookEventType[]);
}

function selectorsOf(value: unknown, where: string): TopicSelector[] | undefined {
  if (value === undefined) return undefined;
  if (
    !Array.isArray(value) ||
    value.length === 0 ||
    value.some((topic) => typeof topic !== 'string' || topic === '')
  ) {
    throw new WebhookConfigError(`${where}: expected a non-empty array of topic selectors`);
  }
  return (value as string[]).map((topic) => compileTypedSelector(topic));
}
