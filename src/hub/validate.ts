import { fieldValueProblem, isValidRetry, wellFormedText } from '../protocol/encode.js';
import type { EventInput } from '../store/types.js';
import { EARLIEST } from '../store/types.js';
import { SsehubError } from '../errors.js';
import { DEFAULT_MAX_TOPIC_LENGTH, DEFAULT_MAX_TOPICS } from '../defaults.js';
import { RESET_EVENT_TYPE } from '../protocol/constants.js';
import { MAX_TTL_MS } from './policy.js';

/** A publish that cannot be accepted as given; the message names the first problem. */
export class HubInputError extends SsehubError {
  readonly code = 'invalid_input';

  constructor(message: string) {
    super(message);
    this.name = 'HubInputError';
  }
}

export interface EventLimits {
  maxTopics: number;
  maxTopicLength: number;
  maxIdLength: number;
  maxTypeLength: number;
}

export const DEFAULT_EVENT_LIMITS: EventLimits = {
  maxTopics: DEFAULT_MAX_TOPICS,
  maxTopicLength: DEFAULT_MAX_TOPIC_LENGTH,
  maxIdLength: 1024,
  maxTypeLength: 256,
};

/** Topics under the hub's own path are reserved for the hub (Mercure subscription events). */
const RESERVED_TOPIC_PART = '/.well-known/mercure';

const UNRESERVED_CHARACTER = /^[A-Za-z0-9\-._~]$/;

/**
 * Whether a topic names something under the hub's path. Like the Mercure reference hub, anywhere
 * in the string; like draft-08, also once percent-escaped unreserved characters are decoded and
 * dot segments resolved, so `/.well-known/%6Dercure` or `/x/../.well-known/mercure` do not slip by.
 */
function isReservedTopic(topic: string): boolean {
  // Decoding and URL resolution only remove characters, segments and escapes: a topic that holds
  // neither an escape nor "well-known" cannot become one that names the hub's path. Most do not,
  // and this skips a URL parse per topic of every publish.
  if (!topic.includes('%') && !topic.includes('well-known')) return false;
  const decoded = topic.replace(/%[0-9A-Fa-f]{2}/g, (escape) => {
    const character = String.fromCharCode(parseInt(escape.slice(1), 16));
    return UNRESERVED_CHARACTER.test(character) ? character : escape;
  });
  if (decoded.includes(RESERVED_TOPIC_PART)) return true;
  try {
    return new URL(decoded, 'http://hub.invalid/').pathname.includes(RESERVED_TOPIC_PART);
  } catch {
    return false;
  }
}

/** C0 controls other than tab, and DEL: Node refuses a request whose header holds one (400). */
const CONTROL_CHARACTER = /[\u0000-\u0008\u000a-\u001f\u007f]/;
/** A UTF-16 surrogate without its pair: it has no UTF-8 form, so it arrives as U+FFFD. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Why an id cannot make the round trip a resume makes: the client sends back the last id it saw in
 * the `Last-Event-ID` request header (as UTF-8, read back by `utf8Header` in src/http/request.ts),
 * and Node trims spaces and tabs around header values and refuses control characters. An id that
 * changes on the way would resume from somewhere else (" earliest" from the very start), so it is
 * refused at publish.
 */
function headerCarriageProblem(id: string): string | undefined {
  if (/^[ \t]|[ \t]$/.test(id)) return 'must not start or end with a space or tab';
  if (CONTROL_CHARACTER.test(id)) return 'must not contain control characters';
  if (LONE_SURROGATE.test(id)) return 'must be well-formed Unicode (no unpaired surrogate)';
  return undefined;
}

/** Checks a publish and returns it normalized; throws HubInputError naming the first problem. */
export function validateEventInput(
  input: EventInput,
  limits: EventLimits = DEFAULT_EVENT_LIMITS,
): EventInput {
  const topics = input.topics;
  if (!Array.isArray(topics) || topics.length === 0) throw new HubInputError('Missing "topic" parameter.');
  if (topics.length > limits.maxTopics) {
    throw new HubInputError(`Too many topics: at most ${limits.maxTopics} per update.`);
  }
  for (const topic of topics) {
    if (typeof topic !== 'string' || topic === '') throw new HubInputError('Empty "topic" parameter.');
    if (topic.length > limits.maxTopicLength) {
      throw new HubInputError(`Topic too long: at most ${limits.maxTopicLength} characters.`);
    }
    if (/[\u0000-\u001f\u007f]/.test(topic))
      throw new HubInputError('Topic must not contain control characters.');
    if (topic === '*') throw new HubInputError('"*" is a selector, not a topic.');
    if (isReservedTopic(topic)) throw new HubInputError('Topics under /.well-known/mercure are reserved.');
  }
  if (typeof input.data !== 'string') throw new HubInputError('"data" must be a string.');
  if (input.id !== undefined) {
    const problem = fieldValueProblem(input.id);
    if (problem) throw new HubInputError(`"id" ${problem}.`);
    if (input.id === '') throw new HubInputError('"id" must not be empty.');
    const carriageProblem = headerCarriageProblem(input.id);
    if (carriageProblem)
      throw new HubInputError(`"id" ${carriageProblem}: a resume sends it back in a header.`);
    if (input.id.startsWith('#')) throw new HubInputError('"id" must not start with "#".');
    if (input.id === EARLIEST) throw new HubInputError('"earliest" is reserved and cannot be an id.');
    if (input.id.length > limits.maxIdLength) {
      throw new HubInputError(`"id" too long: at most ${limits.maxIdLength} characters.`);
    }
  }
  if (input.type !== undefined) {
    const problem = fieldValueProblem(input.type);
    if (problem) throw new HubInputError(`"type" ${problem}.`);
    if (input.type === RESET_EVENT_TYPE || input.type === 'mercure') {
      throw new HubInputError(`"type" ${JSON.stringify(input.type)} is reserved for the hub.`);
    }
    if (input.type.length > limits.maxTypeLength) {
      throw new HubInputError(`"type" too long: at most ${limits.maxTypeLength} characters.`);
    }
  }
  if (input.retry !== undefined && !isValidRetry(input.retry)) {
    throw new HubInputError('"retry" must be a non-negative integer.');
  }
  const { ttlMs, version } = input;
  if (ttlMs !== undefined && !(Number.isSafeInteger(ttlMs) && ttlMs > 0 && ttlMs <= MAX_TTL_MS)) {
    throw new HubInputError(`"ttl" must be an integer number of ms from 1 to ${MAX_TTL_MS}.`);
  }
  if (version !== undefined && !(typeof version === 'number' && Number.isFinite(version))) {
    throw new HubInputError('"version" must be a finite number.');
  }
  return {
    ttlMs,
    version,
    topics: [...topics],
    // A lone surrogate has no UTF-8 form and reaches subscribers as U+FFFD: stored as such, every
    // store keeps what it delivers, and publishing the same again compares equal to what was kept.
    data: wellFormedText(input.data),
    type: input.type === '' || input.type === undefined ? undefined : wellFormedText(input.type),
    retry: input.retry,
    private: input.private === true,
    id: input.id,
  };
}

/** Printable ASCII, 1-255 characters: an opaque key (a UUID, a hash) that is safe in logs and keys. */
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/**
 * Checks an `Idempotency-Key` value; the IETF httpapi draft makes it a structured-field string, so
 * surrounding double quotes are accepted and removed.
 */
export function validateIdempotencyKey(raw: string): string {
  const key = /^"[^"]*"$/.test(raw) ? raw.slice(1, -1) : raw;
  if (!IDEMPOTENCY_KEY.test(key)) {
    throw new HubInputError('"Idempotency-Key" must be 1-255 printable ASCII characters without spaces.');
  }
  return key;
}
