import { SsehubError } from '../errors.js';
import { compileSelector } from './topic-selector.js';
import type { TopicSelector } from './topic-selector.js';

/**
 * Per-topic delivery policies (issue 17). The same objects come from the library (`HubOptions.topics`)
 * and from the standalone hub's config file (`topics` section), validated here once for both.
 */

export const DELIVERY_MODES = ['stream', 'state'] as const;
export type DeliveryMode = (typeof DELIVERY_MODES)[number];

export const SLOW_CONSUMER_POLICIES = ['disconnect', 'skip', 'latest'] as const;
export type SlowConsumerPolicy = (typeof SLOW_CONSUMER_POLICIES)[number];

/** Longest accepted TTL: one year. Longer is surely a unit mistake (seconds given as ms is shorter). */
export const MAX_TTL_MS = 365 * 24 * 3600 * 1000;

/** Largest accepted `retainCount`: far above any store's global bound (which stays the upper limit). */
export const MAX_RETAIN_COUNT = 1_000_000_000;

export interface TopicPolicy {
  /**
   * `stream` (default): every event, exact resume. `state`: each topic's latest event is its state;
   * a new subscriber gets every matching topic's state first, a reconnecting one only what changed.
   */
  mode?: DeliveryMode | undefined;
  /** Default time to live of this topic's events, in ms; an expired event is never replayed. */
  ttlMs?: number | undefined;
  /**
   * What happens to a subscriber that reads too slowly: `disconnect` (default; it resumes from
   * history), `skip` (drop what does not fit, then send the reset signal naming the gap), `latest`
   * (state topics only: keep just the newest update per topic until the reader catches up).
   */
  slowConsumer?: SlowConsumerPolicy | undefined;
  /**
   * Retained history per topic, by count: only the newest `retainCount` events of each topic
   * (by its canonical topic) stay replayable; older ones are retired (their data dropped where the
   * store can) and a resume across them gets the reset signal, as across trimmed events. The
   * store's global retention still bounds every topic.
   */
  retainCount?: number | undefined;
  /**
   * Retained history per topic, by age, in ms: an event older than this is never replayed, whatever
   * its `ttl`; a resume across it gets the reset signal. A topic's kept state (mode `state`) is not
   * history and stays.
   */
  retainAgeMs?: number | undefined;
}

/** A policy with every field decided: what the hub consults. */
export interface ResolvedPolicy {
  readonly mode: DeliveryMode;
  readonly ttlMs: number | undefined;
  readonly slowConsumer: SlowConsumerPolicy;
  readonly retainCount: number | undefined;
  readonly retainAgeMs: number | undefined;
  /** The selector that chose this policy; undefined for the default. */
  readonly selector: string | undefined;
}

export const DEFAULT_POLICY: ResolvedPolicy = Object.freeze({
  mode: 'stream',
  ttlMs: undefined,
  slowConsumer: 'disconnect',
  retainCount: undefined,
  retainAgeMs: undefined,
  selector: undefined,
});

/** Topic selector → policy. Order matters: the first selector matching a topic wins. */
export type TopicPolicies = Readonly<Record<string, TopicPolicy>>;

/** A policy that cannot be used; the message is one line naming the selector and the field. */
export class PolicyError extends SsehubError {
  readonly code = 'invalid_input';

  constructor(message: string) {
    super(message);
    this.name = 'PolicyError';
  }
}

const POLICY_FIELDS = ['mode', 'ttlMs', 'slowConsumer', 'retainCount', 'retainAgeMs'] as const;

/** Checks one selector's policy (from JSON or code); throws PolicyError naming the first problem. */
export function resolvePolicy(selector: string, policy: unknown): ResolvedPolicy {
  const where = `topics[${JSON.stringify(selector)}]`;
  if (selector === '') throw new PolicyError(`${where}: the selector must not be empty`);
  // JavaScript orders integer-like keys first, whatever the file says: "first match wins" would lie.
  if (/^(0|[1-9][0-9]*)$/.test(selector)) {
    throw new PolicyError(`${where}: an integer-like selector would lose its place in the order`);
  }
  if (policy === null || typeof policy !== 'object' || Array.isArray(policy)) {
    throw new PolicyError(`${where}: expected an object like {"mode": "state"}`);
  }
  const fields = policy as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    if (!(POLICY_FIELDS as readonly string[]).includes(key)) {
      throw new PolicyError(`${where}: unknown field "${key}" (known: ${POLICY_FIELDS.join(', ')})`);
    }
  }
  const mode = oneOf(where, 'mode', fields.mode, DELIVERY_MODES) ?? 'stream';
  const slowConsumer =
    oneOf(where, 'slowConsumer', fields.slowConsumer, SLOW_CONSUMER_POLICIES) ?? 'disconnect';
  if (slowConsumer === 'latest' && mode !== 'state') {
    throw new PolicyError(`${where}: slowConsumer "latest" needs mode "state" (a stream cannot drop events)`);
  }
  const ttlMs = integerUpTo(where, 'ttlMs', fields.ttlMs, MAX_TTL_MS);
  const retainCount = integerUpTo(where, 'retainCount', fields.retainCount, MAX_RETAIN_COUNT);
  const retainAgeMs = integerUpTo(where, 'retainAgeMs', fields.retainAgeMs, MAX_TTL_MS);
  return Object.freeze({ mode, slowConsumer, ttlMs, retainCount, retainAgeMs, selector });
}

function integerUpTo(where: string, name: string, value: unknown, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (Number.isSafeInteger(value) && (value as number) > 0 && (value as number) <= max)
    return value as number;
  throw new PolicyError(
    `${where}: "${name}" must be an integer from 1 to ${max}, got ${JSON.stringify(value)}`,
  );
}

function oneOf<T extends string>(
  where: string,
  name: string,
  value: unknown,
  allowed: readonly T[],
): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  throw new PolicyError(
    `${where}: "${name}" must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`,
  );
}

/** Most topics whose policy is remembered; a miss costs one pass over the selectors. */
const CACHED_TOPICS = 10_000;

/**
 * Topic → policy. The hub asks once per published event (by its canonical topic), never once per
 * subscriber, and a hub without policies answers the default without looking anything up.
 */
export class PolicyBook {
  private readonly rules: readonly { selector: TopicSelector; policy: ResolvedPolicy }[];
  private readonly cache = new Map<string, ResolvedPolicy>();
  /** Whether any selector chooses `state` mode (else state reads are skipped entirely). */
  readonly hasStateTopics: boolean;
  /** Whether any selector chooses `skip` (else fan-out need not note each subscriber's last id). */
  readonly hasSkipTopics: boolean;
  /** Whether any selector limits retention by age (else replays skip the per-event check). */
  readonly hasRetainAge: boolean;

  constructor(policies: TopicPolicies = {}) {
    this.rules = Object.entries(policies).map(([selector, policy]) => ({
      selector: compileSelector(selector),
      policy: resolvePolicy(selector, policy),
    }));
    this.hasStateTopics = this.rules.some((rule) => rule.policy.mode === 'state');
    this.hasSkipTopics = this.rules.some((rule) => rule.policy.slowConsumer === 'skip');
    this.hasRetainAge = this.rules.some((rule) => rule.policy.retainAgeMs !== undefined);
  }

  get isEmpty(): boolean {
    return this.rules.length === 0;
  }

  /** The policy of the first selector matching `topic`, or the default. */
  of(topic: string): ResolvedPolicy {
    if (this.rules.length === 0) return DEFAULT_POLICY;
    let policy = this.cache.get(topic);
    if (policy === undefined) {
      policy = this.rules.find((rule) => rule.selector.matches(topic))?.policy ?? DEFAULT_POLICY;
      if (this.cache.size >= CACHED_TOPICS) this.cache.clear();
      this.cache.set(topic, policy);
    }
    return policy;
  }
}
