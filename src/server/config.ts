import { readFileSync } from 'node:fs';
import {
  DEFAULT_BODY_BUDGET_BYTES,
  DEFAULT_BODY_TIMEOUT_MS,
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_HISTORY_SIZE,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_MAX_BUFFERED_BYTES,
  DEFAULT_MAX_TOPIC_LENGTH,
  DEFAULT_MAX_TOPICS,
  DEFAULT_REDIS_PREFIX,
  DEFAULT_RETRY_MS,
  REDIS_PREFIX_PATTERN,
  REDIS_PREFIX_RULE,
} from '../defaults.js';
import { normalizeOrigin } from '../http/cors.js';
import { PolicyBook, PolicyError } from '../hub/policy.js';
import type { TopicPolicies } from '../hub/policy.js';
import { DEFAULT_PRESENCE_GRACE_MS, DEFAULT_PRESENCE_LEASE_MS } from '../hub/presence.js';
import { SUBSCRIPTION_FORMATS } from '../hub/subscription-format.js';
import type { SubscriptionsFormat } from '../hub/subscription-format.js';
import { WebhookConfigError } from '../webhooks/settings.js';
import { wantsPresence, webhooksSection } from './webhook-config.js';
import type { WebhooksConfig } from './webhook-config.js';

/**
 * Every setting of the standalone hub, declared once: flags, environment variables, an optional
 * JSON config file, defaults, validation, `--help` and the README table all come from this table.
 * Precedence: flag > environment > config file > default.
 */

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Parser<T> = (raw: string, name: string) => T;

export interface OptionSpec<K extends string = string, T = unknown> {
  key: K;
  flag: string;
  env: string[];
  description: string;
  default: T;
  /** How the default is shown in --help and the README. */
  defaultText?: string;
  parse: Parser<T>;
  /** Options that take no value on the command line (`--flag` means true). */
  boolean?: boolean;
}

export const integer =
  (min: number, max = Number.MAX_SAFE_INTEGER): Parser<number> =>
  (raw, name) => {
    if (!/^[0-9]+$/.test(raw.trim()))
      throw new ConfigError(`${name}: expected an integer, got ${JSON.stringify(raw)}`);
    const value = Number(raw.trim());
    if (value < min || value > max)
      throw new ConfigError(`${name}: must be between ${min} and ${max}, got ${value}`);
    return value;
  };

export const text: Parser<string> = (raw, name) => {
  if (raw.trim() === '') throw new ConfigError(`${name}: must not be empty`);
  return raw.trim();
};

export const optionalText: Parser<string | undefined> = (raw) => (raw.trim() === '' ? undefined : raw.trim());

export const oneOf =
  <T extends string>(values: readonly T[]): Parser<T> =>
  (raw, name) => {
    const value = raw.trim().toLowerCase();
    if (!(values as readonly string[]).includes(value))
      throw new ConfigError(`${name}: expected one of ${values.join(', ')}, got ${JSON.stringify(raw)}`);
    return value as T;
  };

/** A path to a readable PEM file (TLS certificate or key); empty means none. */
export const pemFile: Parser<string | undefined> = (raw, name) => {
  const path = raw.trim();
  if (path === '') return undefined;
  let content: string;
  try {
    content = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(
      `${name}: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
  if (!content.includes('-----BEGIN ')) throw new ConfigError(`${name}: ${path} is not a PEM file`);
  return path;
};

/** The stores that need no server; Redis is chosen by giving its URL. */
export const EMBEDDED_STORES = ['sqlite', 'memory'] as const;
/** Kept in step with the sqlite store's `SyncLevel` (not imported: the config must not load SQLite). */
export const SYNC_OPTIONS = ['full', 'normal'] as const;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const boolean: Parser<boolean> = (raw, name) => {
  const value = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(value)) return true;
  if (['0', 'false', 'no', 'off'].includes(value)) return false;
  throw new ConfigError(`${name}: expected true or false, got ${JSON.stringify(raw)}`);
};

/** A `redis://` or `rediss://` URL; empty means "no Redis" (the in-memory store). */
export const redisUrl: Parser<string | undefined> = (raw, name) => {
  const value = raw.trim();
  if (value === '') return undefined;
  if (!/^rediss?:\/\/[^\s]+$/.test(value)) {
    throw new ConfigError(`${name}: expected a redis:// or rediss:// URL, got ${JSON.stringify(raw)}`);
  }
  return value;
};

export const redisPrefix: Parser<string> = (raw, name) => {
  const value = raw.trim();
  if (!REDIS_PREFIX_PATTERN.test(value)) {
    throw new ConfigError(`${name}: ${REDIS_PREFIX_RULE} expected, got ${JSON.stringify(raw)}`);
  }
  return value;
};

/** A list of origins separated by commas or spaces; `*` alone allows any origin (no credentials). */
export const originList: Parser<string[]> = (raw, name) => {
  const origins = raw.split(/[\s,]+/).filter((origin) => origin !== '');
  if (origins.includes('*')) {
    if (origins.length > 1) throw new ConfigError(`${name}: "*" cannot be combined with named origins`);
    return ['*'];
  }
  try {
    return origins.map(normalizeOrigin);
  } catch (error) {
    throw new ConfigError(`${name}: ${(error as Error).message}`);
  }
};

/**
 * JWT `StringOrURI` values (RFC 7519), separated by commas; empty means none. A value with a colon
 * must be a URI, and none may hold whitespace: a token could never match such a setting.
 */
export const stringOrUriList: Parser<string[] | undefined> = (raw, name) => {
  const values = raw
    .split(',')
    .map((value) => value.trim())
    .filter((value) => value !== '');
  if (values.length === 0) return undefined;
  for (const value of values) {
    if (/[\s\u0000-\u001f\u007f]/.test(value)) {
      throw new ConfigError(`${name}: ${JSON.stringify(value)} contains whitespace`);
    }
    if (value.includes(':') && !URL.canParse(value)) {
      throw new ConfigError(`${name}: ${JSON.stringify(value)} is neither a plain string nor a URI`);
    }
  }
  return values;
};

/** A byte count as --help and the README show it: `4194304 (4 MiB)`. */
function mebibytes(bytes: number): string {
  return `${bytes} (${bytes / (1024 * 1024)} MiB)`;
}

function option<K extends string, T>(spec: OptionSpec<K, T>): OptionSpec<K, T> {
  return spec;
}

export const OPTIONS = [
  option({
    key: 'port',
    flag: '--port',
    env: ['PORT', 'SSEHUB_PORT'],
    description: 'TCP port to listen on',
    default: 3000,
    parse: integer(0, 65535),
  }),
  option({
    key: 'host',
    flag: '--host',
    env: ['SSEHUB_HOST'],
    description: 'Address to bind; loopback by default so an unconfigured hub is not exposed',
    default: '127.0.0.1',
    parse: text,
  }),
  option({
    key: 'historySize',
    flag: '--history-size',
    env: ['SSEHUB_HISTORY_SIZE'],
    description: 'Events retained for resume (Redis keeps at least this many)',
    default: DEFAULT_HISTORY_SIZE,
    parse: integer(1, 10_000_000),
  }),
  option({
    key: 'historyMaxAgeMs',
    flag: '--history-max-age-ms',
    env: ['SSEHUB_HISTORY_MAX_AGE_MS'],
    description: 'Also drop retained events older than this (ms); 0 keeps them until evicted by count',
    default: 0,
    parse: integer(0),
  }),
  option({
    key: 'store',
    flag: '--store',
    env: ['SSEHUB_STORE'],
    description:
      'Where history is kept when --redis is not set: `sqlite`, a file in --data-dir that survives restarts and crashes, or `memory`, lost when the hub stops',
    default: 'sqlite' as (typeof EMBEDDED_STORES)[number],
    parse: oneOf(EMBEDDED_STORES),
  }),
  option({
    key: 'dataDir',
    flag: '--data-dir',
    env: ['SSEHUB_DATA_DIR'],
    description:
      'Directory of the sqlite store (created if missing); one running hub per directory, another one refuses to start',
    default: './ssehub-data',
    parse: text,
  }),
  option({
    key: 'sync',
    flag: '--sync',
    env: ['SSEHUB_SYNC'],
    description:
      'sqlite store: `full` syncs each commit to disk before publishes are answered (survives power loss); `normal` survives a hub crash but may lose the last commits on power loss',
    default: 'full' as (typeof SYNC_OPTIONS)[number],
    parse: oneOf(SYNC_OPTIONS),
  }),
  option({
    key: 'historyPerTopic',
    flag: '--history-per-topic',
    env: ['SSEHUB_HISTORY_PER_TOPIC'],
    description:
      'sqlite store: also retain at most this many events per topic (0: no per-topic limit); a resume from before a trimmed event of its topics is reset',
    default: 0,
    parse: integer(0, 10_000_000),
  }),
  option({
    key: 'redisUrl',
    flag: '--redis',
    env: ['SSEHUB_REDIS_URL'],
    description:
      'Store events in Redis Streams at this URL, shared by every hub using it (instead of --store)',
    default: undefined as string | undefined,
    defaultText: 'none (--store)',
    parse: redisUrl,
  }),
  option({
    key: 'redisPrefix',
    flag: '--redis-prefix',
    env: ['SSEHUB_REDIS_PREFIX'],
    description: 'Namespace of the Redis keys; hubs sharing a prefix share one history',
    default: DEFAULT_REDIS_PREFIX,
    parse: redisPrefix,
  }),
  option({
    key: 'maxRewind',
    flag: '--max-rewind',
    env: ['SSEHUB_MAX_REWIND'],
    description: 'Largest `rewind=N` a subscriber may ask for (events replayed before live ones)',
    default: 1000,
    parse: integer(0, 100_000),
  }),
  option({
    key: 'idempotencyWindowMs',
    flag: '--idempotency-window-ms',
    env: ['SSEHUB_IDEMPOTENCY_WINDOW_MS'],
    description:
      'How long a publish `Idempotency-Key` answers with its first publish (ms); a retry within it stores nothing',
    default: 24 * 3600 * 1000,
    defaultText: '86400000 (24 hours)',
    parse: integer(1, 30 * 24 * 3600 * 1000),
  }),
  option({
    key: 'heartbeatMs',
    flag: '--heartbeat-ms',
    env: ['SSEHUB_HEARTBEAT_MS'],
    description:
      'Send a comment on streams idle this long (ms); 0 disables (streams then get TCP keep-alive probes)',
    default: DEFAULT_HEARTBEAT_MS,
    parse: integer(0),
  }),
  option({
    key: 'retryMs',
    flag: '--retry-ms',
    env: ['SSEHUB_RETRY_MS'],
    description: 'Reconnection delay sent to clients as `retry:` on connect (ms)',
    default: DEFAULT_RETRY_MS,
    parse: integer(0),
  }),
  option({
    key: 'maxBodyBytes',
    flag: '--max-body-bytes',
    env: ['SSEHUB_MAX_BODY_BYTES'],
    description: 'Largest publish request body (bytes)',
    default: DEFAULT_MAX_BODY_BYTES,
    defaultText: mebibytes(DEFAULT_MAX_BODY_BYTES),
    parse: integer(1),
  }),
  option({
    key: 'bodyTimeoutMs',
    flag: '--body-timeout-ms',
    env: ['SSEHUB_BODY_TIMEOUT_MS'],
    description:
      'A publish body must arrive whole within this (ms) once its headers are accepted; slower ones get 408 and the connection is closed (0: no deadline)',
    default: DEFAULT_BODY_TIMEOUT_MS,
    parse: integer(0, 600_000),
  }),
  option({
    key: 'maxBodyBytesInFlight',
    flag: '--max-body-bytes-in-flight',
    env: ['SSEHUB_MAX_BODY_BYTES_IN_FLIGHT'],
    description:
      'Request body bytes held at once across all requests; a body past it gets 503 with Retry-After (0: unlimited)',
    default: DEFAULT_BODY_BUDGET_BYTES,
    defaultText: mebibytes(DEFAULT_BODY_BUDGET_BYTES),
    parse: integer(0),
  }),
  option({
    key: 'maxBufferedBytes',
    flag: '--max-buffered-bytes',
    env: ['SSEHUB_MAX_BUFFERED_BYTES'],
    description: 'A subscriber with more unsent bytes than this is disconnected (it resumes later)',
    default: DEFAULT_MAX_BUFFERED_BYTES,
    defaultText: mebibytes(DEFAULT_MAX_BUFFERED_BYTES),
    parse: integer(1024),
  }),
  option({
    key: 'maxTopicsPerSubscription',
    flag: '--max-topics',
    env: ['SSEHUB_MAX_TOPICS'],
    description: 'Most topic selectors in one subscription',
    default: DEFAULT_MAX_TOPICS,
    parse: integer(1),
  }),
  option({
    key: 'maxTopicLength',
    flag: '--max-topic-length',
    env: ['SSEHUB_MAX_TOPIC_LENGTH'],
    description: 'Longest topic selector in a subscription (characters)',
    default: DEFAULT_MAX_TOPIC_LENGTH,
    parse: integer(1, 1_000_000),
  }),
  option({
    key: 'maxConnections',
    flag: '--max-connections',
    env: ['SSEHUB_MAX_CONNECTIONS'],
    description: 'Most open streams in total; more get 503 with Retry-After (0: unlimited)',
    default: 50_000,
    parse: integer(0),
  }),
  option({
    key: 'maxConnectionsPerSubject',
    flag: '--max-connections-per-subject',
    env: ['SSEHUB_MAX_CONNECTIONS_PER_SUBJECT'],
    description:
      'Most open streams of one token subject (`sub`); more get 429 with Retry-After (0: unlimited)',
    default: 100,
    parse: integer(0),
  }),
  option({
    key: 'maxStreamOpensPerSecond',
    flag: '--max-stream-opens-per-second',
    env: ['SSEHUB_MAX_STREAM_OPENS_PER_SECOND'],
    description:
      'New event streams admitted per second (a token bucket); more get 503 with a jittered Retry-After, before their token is verified, so a reconnect storm returns spread out (0: unlimited; see docs/operations.md)',
    default: 0,
    parse: integer(0, 1_000_000),
  }),
  option({
    key: 'streamOpenBurst',
    flag: '--stream-open-burst',
    env: ['SSEHUB_STREAM_OPEN_BURST'],
    description:
      "New event streams admitted at once after a quiet moment, under --max-stream-opens-per-second (0: one second's worth)",
    default: 0,
    parse: integer(0, 10_000_000),
  }),
  option({
    key: 'maxNonStreamConnections',
    flag: '--max-non-stream-connections',
    env: ['SSEHUB_MAX_NON_STREAM_CONNECTIONS'],
    description:
      'Most open connections not carrying an event stream (idle keep-alive, requests being sent or answered, and every reconnecting subscriber until its request is read); more are answered 503 and closed (0: unlimited)',
    default: 10_000,
    parse: integer(0),
  }),
  option({
    key: 'listenBacklog',
    flag: '--listen-backlog',
    env: ['SSEHUB_LISTEN_BACKLOG'],
    description:
      "Connections the kernel queues for the hub to accept (capped by the kernel's net.core.somaxconn): when all subscribers reconnect at once, connections past it wait for the client's SYN retry (1 s, then 3 s)",
    default: 8192,
    parse: integer(1),
  }),
  option({
    key: 'requestTimeoutMs',
    flag: '--request-timeout-ms',
    env: ['SSEHUB_REQUEST_TIMEOUT_MS'],
    description:
      'Longest a client may take to send a whole request (headers and body; 408), or stay connected without sending one; event streams are exempt (plain HTTP/1.1)',
    default: 30_000,
    parse: integer(100, 3_600_000),
  }),
  option({
    key: 'jwtKey',
    flag: '--jwt-key',
    env: ['SSEHUB_JWT_KEY'],
    description:
      'Key verifying publisher and subscriber JWTs: an HMAC secret, or a PEM public key/certificate; `@file` reads it from a file. Setting any key turns authorization on',
    default: undefined as string | undefined,
    defaultText: 'none (open hub)',
    parse: optionalText,
  }),
  option({
    key: 'publisherJwtKey',
    flag: '--publisher-jwt-key',
    env: ['SSEHUB_PUBLISHER_JWT_KEY'],
    description: 'Key for publisher JWTs only (overrides --jwt-key for publishers)',
    default: undefined as string | undefined,
    defaultText: 'none',
    parse: optionalText,
  }),
  option({
    key: 'subscriberJwtKey',
    flag: '--subscriber-jwt-key',
    env: ['SSEHUB_SUBSCRIBER_JWT_KEY'],
    description: 'Key for subscriber JWTs only (overrides --jwt-key for subscribers)',
    default: undefined as string | undefined,
    defaultText: 'none',
    parse: optionalText,
  }),
  option({
    key: 'jwtAlgorithms',
    flag: '--jwt-alg',
    env: ['SSEHUB_JWT_ALG'],
    description:
      'JWS algorithms accepted, comma-separated (HS256, RS256, ES256, …); default from the key: HS256 for a secret, RS256 for RSA, ES256 for P-256',
    default: undefined as string | undefined,
    defaultText: 'from the key',
    parse: optionalText,
  }),
  option({
    key: 'jwksUrl',
    flag: '--jwks-url',
    env: ['SSEHUB_JWKS_URL'],
    description: 'JWK Set URL verifying the tokens of any role that has no key of its own',
    default: undefined as string | undefined,
    defaultText: 'none',
    parse: optionalText,
  }),
  option({
    key: 'jwtLeewaySeconds',
    flag: '--jwt-leeway',
    env: ['SSEHUB_JWT_LEEWAY'],
    description: 'Clock skew tolerated on `exp` and `nbf` (seconds); a stream still closes at `exp`',
    default: 5,
    parse: integer(0, 600),
  }),
  option({
    key: 'jwtIssuer',
    flag: '--jwt-issuer',
    env: ['SSEHUB_JWT_ISSUER'],
    description:
      'Accepted token issuers (`iss`), comma-separated. Set, or with --jwt-audience, tokens must be RFC 9068 access tokens (Mercure 1.0): `typ: at+jwt`, this `iss`, the audience and `exp` are required',
    default: undefined as string[] | undefined,
    defaultText: 'none (any issuer; draft-07 tokens accepted)',
    parse: stringOrUriList,
  }),
  option({
    key: 'jwtAudience',
    flag: '--jwt-audience',
    env: ['SSEHUB_JWT_AUDIENCE'],
    description:
      "The hub's resource identifiers, comma-separated (e.g. https://hub.example/.well-known/mercure): a token's `aud` must name one. Set, access tokens are required as with --jwt-issuer",
    default: undefined as string[] | undefined,
    defaultText: 'none (any audience)',
    parse: stringOrUriList,
  }),
  option({
    key: 'allowAnonymous',
    flag: '--allow-anonymous',
    env: ['SSEHUB_ALLOW_ANONYMOUS'],
    description: 'With a key set, also let subscribers without a token in (public updates only)',
    default: false,
    parse: boolean,
    boolean: true,
  }),
  option({
    key: 'publishRatePerSecond',
    flag: '--publish-rate',
    env: ['SSEHUB_PUBLISH_RATE'],
    description:
      'Updates per second one publisher token may send (bursts of as many); more get 429 (0: unlimited)',
    default: 1000,
    parse: integer(0),
  }),
  option({
    key: 'corsOrigins',
    flag: '--cors-origins',
    env: ['SSEHUB_CORS_ORIGINS'],
    description:
      'Origins whose pages may use the hub cross-origin, with cookies (comma-separated), or `*` for any origin without cookies',
    default: [] as string[],
    defaultText: 'none (same origin only)',
    parse: originList,
  }),
  option({
    key: 'shutdownTimeoutMs',
    flag: '--shutdown-timeout-ms',
    env: ['SSEHUB_SHUTDOWN_TIMEOUT_MS'],
    description:
      'On SIGTERM/SIGINT: longest wait for in-flight publishes and stream flushes before exiting (ms)',
    default: 10_000,
    parse: integer(0, 600_000),
  }),
  option({
    key: 'drainDelayMs',
    flag: '--drain-delay-ms',
    env: ['SSEHUB_DRAIN_DELAY_MS'],
    description:
      'On SIGTERM/SIGINT: keep serving this long with /readyz answering 503, so load balancers route elsewhere before streams end (ms; part of the shutdown timeout)',
    default: 0,
    parse: integer(0, 600_000),
  }),
  option({
    key: 'logLevel',
    flag: '--log-level',
    env: ['SSEHUB_LOG_LEVEL'],
    description: `Least severe log level written (${LOG_LEVELS.join(', ')})`,
    default: 'info' as (typeof LOG_LEVELS)[number],
    parse: oneOf(LOG_LEVELS),
  }),
  option({
    key: 'tlsCert',
    flag: '--tls-cert',
    env: ['SSEHUB_TLS_CERT'],
    description: 'PEM certificate file: serve HTTPS with HTTP/2 (HTTP/1.1 still accepted); needs --tls-key',
    default: undefined as string | undefined,
    defaultText: 'none (plain HTTP/1.1)',
    parse: pemFile,
  }),
  option({
    key: 'tlsKey',
    flag: '--tls-key',
    env: ['SSEHUB_TLS_KEY'],
    description: 'PEM private key file for --tls-cert',
    default: undefined as string | undefined,
    defaultText: 'none',
    parse: pemFile,
  }),
  option({
    key: 'metrics',
    flag: '--metrics',
    env: ['SSEHUB_METRICS'],
    description: 'Serve Prometheus metrics at /metrics',
    default: true,
    parse: boolean,
    boolean: true,
  }),
  option({
    key: 'demo',
    flag: '--demo',
    env: ['SSEHUB_DEMO'],
    description: 'Serve the demo page at /',
    default: true,
    parse: boolean,
    boolean: true,
  }),
  option({
    key: 'subscriptions',
    flag: '--subscriptions',
    env: ['SSEHUB_SUBSCRIPTIONS'],
    description:
      'Track active subscriptions: private subscription events on /.well-known/mercure/subscriptions/{topic}/{subscriber} and the subscriptions API, across every hub sharing the store',
    default: false,
    parse: boolean,
    boolean: true,
  }),
  option({
    key: 'presenceLeaseMs',
    flag: '--presence-lease-ms',
    env: ['SSEHUB_PRESENCE_LEASE_MS'],
    description:
      'With --subscriptions: a hub that stops without a word (killed) has its subscriptions end this long after its last lease renewal (ms); renewed every third of it',
    default: DEFAULT_PRESENCE_LEASE_MS,
    parse: integer(30, 3_600_000),
  }),
  option({
    key: 'presenceGraceMs',
    flag: '--presence-grace-ms',
    env: ['SSEHUB_PRESENCE_GRACE_MS'],
    description:
      'With --subscriptions: a subscription stays active this long after its stream closes, so a client reconnecting within it causes no inactive/active flap (ms)',
    default: DEFAULT_PRESENCE_GRACE_MS,
    parse: integer(0, 600_000),
  }),
  option({
    key: 'subscriptionsFormat',
    flag: '--subscriptions-format',
    env: ['SSEHUB_SUBSCRIPTIONS_FORMAT'],
    description:
      'With --subscriptions: the shape of subscription events and API documents (draft-07: JSON-LD for Symfony and API Platform; draft-08: plain JSON, event: mercure; both: each event in both shapes, the API chosen per request)',
    default: 'draft-07' as SubscriptionsFormat,
    parse: oneOf(SUBSCRIPTION_FORMATS),
  }),
];

type Options = (typeof OPTIONS)[number];
export type HubConfig = { [O in Options as O['key']]: O['default'] } & {
  /** Per-topic delivery policies: only in the config file (a flag cannot hold them). */
  topics: TopicPolicies;
  /** Webhook endpoints and delivery settings: only in the config file (a flag would show secrets in `ps`). */
  webhooks: WebhooksConfig | undefined;
};

export const DEFAULT_CONFIG: HubConfig = {
  ...(Object.fromEntries(OPTIONS.map((o) => [o.key, o.default])) as Omit<HubConfig, 'topics' | 'webhooks'>),
  topics: {},
  webhooks: undefined,
};

export interface ConfigSources {
  argv?: readonly string[];
  env?: Readonly<Record<string, string | undefined>>;
}

export interface ParsedCommandLine {
  config: HubConfig;
  help: boolean;
}

/** Reads the configuration; throws ConfigError with one line naming the offending option. */
export function loadConfig(sources: ConfigSources = {}): ParsedCommandLine {
  const argv = sources.argv ?? [];
  const env = sources.env ?? {};
  const fromFlags = new Map<string, string>();
  let help = false;
  let configFile = env.SSEHUB_CONFIG;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    const [flag, inlineValue] = arg.includes('=')
      ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
      : [arg, undefined];
    if (flag === '--config') {
      configFile = inlineValue ?? argv[++i];
      if (configFile === undefined) throw new ConfigError('--config: missing file name');
      continue;
    }
    const spec = OPTIONS.find((o) => o.flag === flag || (o.boolean && flag === `--no-${o.flag.slice(2)}`));
    if (!spec) throw new ConfigError(`${arg}: unknown option (see --help)`);
    if (flag.startsWith('--no-')) {
      fromFlags.set(spec.key, 'false');
      continue;
    }
    const value =
      inlineValue ?? (spec.boolean && (argv[i + 1] ?? '--').startsWith('--') ? 'true' : argv[++i]);
    if (value === undefined) throw new ConfigError(`${flag}: missing value`);
    fromFlags.set(spec.key, value);
  }
  const fromFile = configFile === undefined ? {} : readConfigFile(configFile);
  const config: Record<string, unknown> = {};
  for (const spec of OPTIONS) {
    const flagValue = fromFlags.get(spec.key);
    const envName = spec.env.find((name) => env[name] !== undefined && env[name] !== '');
    if (flagValue !== undefined) config[spec.key] = spec.parse(flagValue, spec.flag);
    else if (envName !== undefined) config[spec.key] = spec.parse(env[envName] as string, envName);
    else if (spec.key in fromFile)
      config[spec.key] = spec.parse(String(fromFile[spec.key]), `${configFile}: ${spec.key}`);
    else config[spec.key] = spec.default;
  }
  config.topics = fromFile.topics === undefined ? {} : topicPolicies(fromFile.topics, configFile as string);
  config.webhooks =
    fromFile.webhooks === undefined ? undefined : webhooks(fromFile.webhooks, configFile as string);
  checkCombinations(config as HubConfig);
  return { config: config as HubConfig, help };
}

/** Rules that involve more than one option. */
function checkCombinations(config: HubConfig): void {
  if (config.maxBodyBytesInFlight > 0 && config.maxBodyBytesInFlight < config.maxBodyBytes) {
    throw new ConfigError(
      `--max-body-bytes-in-flight: must be at least --max-body-bytes (${config.maxBodyBytes}), or 0`,
    );
  }
  if ((config.tlsCert === undefined) !== (config.tlsKey === undefined)) {
    throw new ConfigError(
      config.tlsCert === undefined ? '--tls-key: needs --tls-cert too' : '--tls-cert: needs --tls-key too',
    );
  }
  if (config.historyPerTopic > 0 && (config.store !== 'sqlite' || config.redisUrl !== undefined)) {
    throw new ConfigError('--history-per-topic: only the sqlite store keeps a per-topic limit');
  }
  if (config.webhooks && wantsPresence(config.webhooks) && !config.subscriptions) {
    throw new ConfigError(
      'webhooks: topic.* and subscription.* events need --subscriptions (the hub tracks presence only then)',
    );
  }
}

function readConfigFile(path: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ConfigError(`--config ${path}: ${(error as Error).message.split('\n')[0]}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(`--config ${path}: expected a JSON object`);
  }
  for (const key of Object.keys(parsed)) {
    if (key !== 'topics' && key !== 'webhooks' && !OPTIONS.some((o) => o.key === key))
      throw new ConfigError(`${path}: unknown option "${key}"`);
  }
  return parsed as Record<string, unknown>;
}

/** The config file's `topics` section, checked as the hub will use it (docs/protocol.md). */
function topicPolicies(section: unknown, path: string): TopicPolicies {
  if (section === null || typeof section !== 'object' || Array.isArray(section)) {
    throw new ConfigError(`${path}: topics: expected an object of topic selector → policy`);
  }
  try {
    new PolicyBook(section as TopicPolicies);
  } catch (error) {
    if (error instanceof PolicyError) throw new ConfigError(`${path}: ${error.message}`);
    throw error;
  }
  return section as TopicPolicies;
}

/**
 * Retention a policy asks for that the store's global bound cannot give: the global bound wins, so
 * the operator is told at start-up rather than finding out from a reset.
 */
export function retentionWarnings(config: HubConfig): string[] {
  const warnings: string[] = [];
  for (const [selector, policy] of Object.entries(config.topics)) {
    if (policy.retainCount !== undefined && policy.retainCount > config.historySize) {
      warnings.push(
        `topics[${JSON.stringify(selector)}]: retainCount ${policy.retainCount} is more than --history-size ${config.historySize} (all topics together); the store keeps at most ${config.historySize}`,
      );
    }
    const maxAge = config.historyMaxAgeMs;
    if (policy.retainAgeMs !== undefined && maxAge > 0 && policy.retainAgeMs > maxAge) {
      warnings.push(
        `topics[${JSON.stringify(selector)}]: retainAgeMs ${policy.retainAgeMs} is more than --history-max-age-ms ${maxAge}; the store keeps events at most ${maxAge} ms`,
      );
    }
  }
  return warnings;
}

/** The config file's `webhooks` section (docs/operations.md, "Webhooks"). */
function webhooks(section: unknown, path: string): WebhooksConfig {
  try {
    return webhooksSection(section);
  } catch (error) {
    if (error instanceof WebhookConfigError) throw new ConfigError(`${path}: ${error.message}`);
    throw error;
  }
}

const HELP_WIDTH = 100;

export function helpText(): string {
  const lines = [
    'Usage: ssehub [options]',
    '',
    'Server-Sent Events hub speaking the Mercure protocol. Every option can also be set by the',
    'environment variable shown, or in a JSON file given with --config FILE (or SSEHUB_CONFIG).',
    'Switches (shown without VALUE) are turned off with --no-NAME, e.g. --no-demo.',
    '',
  ];
  const label = (spec: (typeof OPTIONS)[number]) => (spec.boolean ? spec.flag : `${spec.flag} VALUE`);
  const column = Math.max(...OPTIONS.map((o) => label(o).length), '--config FILE'.length) + 4;
  const entry = (flag: string, text: string) => {
    const wrapped = wrap(text, HELP_WIDTH - column);
    lines.push(`  ${flag.padEnd(column - 2)}${wrapped[0] ?? ''}`);
    for (const line of wrapped.slice(1)) lines.push(`${''.padEnd(column)}${line}`);
  };
  for (const spec of OPTIONS) {
    entry(label(spec), spec.description);
    lines.push(
      `${''.padEnd(column)}env ${spec.env.join(', ')}; default ${spec.defaultText ?? String(spec.default)}`,
    );
  }
  entry(
    '--config FILE',
    'JSON file with any of the options above (keys as in the README table), per-topic delivery policies under "topics" (docs/protocol.md), and webhook endpoints under "webhooks" (docs/operations.md)',
  );
  entry('--help', 'Show this help');
  return lines.join('\n');
}

/** Splits text into lines of at most `width` characters, at spaces. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines;
}

/** The configuration table in Markdown, for the README (a test keeps the two in step). */
export function markdownTable(): string {
  const rows = ['| Flag | Environment | Config file key | Default | Description |', '|---|---|---|---|---|'];
  for (const spec of OPTIONS) {
    rows.push(
      `| \`${spec.flag}\` | ${spec.env.map((e) => `\`${e}\``).join(', ')} | \`${spec.key}\` | ${spec.defaultText ?? String(spec.default)} | ${spec.description} |`,
    );
  }
  return rows.join('\n');
}
