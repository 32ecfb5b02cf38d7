import { Cluster, Command, Redis, ReplyError } from 'ioredis';
import type { ClusterNode, ClusterOptions, RedisOptions } from 'ioredis';
import {
  DEFAULT_HISTORY_SIZE,
  DEFAULT_REDIS_PREFIX,
  REDIS_PREFIX_PATTERN,
  REDIS_PREFIX_RULE,
} from '../defaults.js';
import { wellFormedText } from '../protocol/encode.js';
import { StoreUnavailableError } from './errors.js';
import { AppendBatches } from './redis-append-batch.js';
import { RedisClock } from './redis-clock.js';
import {
  APPEND_SCRIPT,
  LATEST_SCRIPT,
  LOCATE_SCRIPT,
  NEWEST_SCRIPT,
  PAGE_SCRIPT,
  STATES_SCRIPT,
} from './redis-scripts.js';
import type { LuaScript } from './redis-scripts.js';
import { idempotencyMismatch, retiredStub } from './append-rules.js';
import { StoreInputError } from './errors.js';
import { checkSuppliedId, repeatedOrConflict } from './supplied-ids.js';
import type {
  EventInput,
  HistoryPage,
  LatestPage,
  LatestRequest,
  LiveListener,
  PageRequest,
  ResumePoint,
  StateRequest,
  StateSnapshot,
  Store,
  StoredEvent,
} from './types.js';
import { EARLIEST } from './types.js';
import { LiveListeners } from './live-listeners.js';

export interface RedisStoreOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…`. Default `redis://127.0.0.1:6379`. */
  url?: string | undefined;
  /**
   * Extra ioredis options, e.g. `{ sentinels: [...], name: 'mymaster' }` for Sentinel, TLS or
   * auth. The store's own connection-failure options (fail fast, never resend) take precedence.
   */
  redisOptions?: RedisOptions | undefined;
  /** Connect to a Redis Cluster instead (all keys share one hash slot through the prefix). */
  cluster?: { nodes: ClusterNode[]; options?: ClusterOptions } | undefined;
  /** Namespace of this hub's keys, so several hubs can share one Redis. Default `ssehub`. */
  prefix?: string | undefined;
  /** Events to retain (`MAXLEN ~`, so Redis may keep somewhat more). Default 10,000. */
  historySize?: number | undefined;
  /** Also drop events older than this many milliseconds (`MINID`). Default: no age limit. */
  maxAgeMs?: number | undefined;
  /** An append or read not answered within this time fails as unavailable. Default 2000 ms. */
  commandTimeoutMs?: number | undefined;
  /** How long `RedisStore.connect` waits for Redis at start-up. Default 5000 ms. */
  connectTimeoutMs?: number | undefined;
  /** Where the store reports trouble that no caller is waiting for. Default `console.warn`. */
  warn?: ((message: string) => void) | undefined;
}

const FEED_BATCH_SIZE = 1000;
/** A blocking read returns at least this often, so a silently dead connection is noticed. */
const FEED_BLOCK_MS = 5000;
const NO_ID = '0-0';
/**
 * How often the store reads Redis's clock on its command connection: keeps the clock estimate
 * fresh, and notices a stalled Redis (and its recovery) even when nothing is published.
 */
const CLOCK_PROBE_MS = 1000;

type RedisClient = Redis | Cluster;
type StreamEntry = [id: string, fields: string[]];
/** One event as APPEND_SCRIPT reads it (see there). */
type ScriptEvent = [
  supplied: string,
  stateTopic: string,
  stateVersion: string,
  fingerprint: string,
  windowMs: string,
  idempotencyKey: string,
  retainTopic: string,
  retainCount: string,
  fields: string[],
];

/**
 * Redis Streams store: one stream holds every event of every topic; generated event ids are the
 * stream ids. Appends and history pages run as Lua scripts, so each is atomic across hubs. Each
 * store instance follows the stream with a blocking `XREAD` on its own connection, from the last id
 * it delivered, which gives every hub process sharing the stream every event once and in order,
 * across reconnects. Create it with `RedisStore.connect`.
 */
export class RedisStore implements Store {
  readonly kind = 'redis';
  readonly prefix: string;
  private readonly historySize: number;
  private readonly maxAgeMs: number;
  /** Every key the scripts use, in their KEYS order (see redis-scripts.ts). */
  private readonly keys: readonly string[];
  private readonly streamKey: string;
  private readonly commands: RedisClient;
  private readonly feed: RedisClient;
  private readonly warn: (message: string) => void;
  private readonly listeners: LiveListeners;
  private readonly gapListeners = new Set<() => void>();
  /** Stream id of the newest event delivered to listeners (or the start point). */
  private feedCursor = NO_ID;
  private following: Promise<void> | undefined;
  private readonly connectTimeoutMs: number;
  private readonly commandTimeoutMs: number;
  /** The latest socket-level error while a connection is down. */
  private connectionError: string | undefined;
  /** Redis's clock as seen from here: appends carry a deadline in it (see APPEND_SCRIPT). */
  private readonly clock = new RedisClock();
  private readonly appends = new AppendBatches<ScriptEvent>((events) => this.appendBatch(events));
  private clockProbe: NodeJS.Timeout | undefined;
  /** A command timed out and none has been answered since: Redis hangs (readiness is false). */
  private stalled = false;
  private closed = false;

  /** Connects and positions the live feed at the stream's end; rejects when Redis is unreachable. */
  static async connect(options: RedisStoreOptions = {}): Promise<RedisStore> {
    const store = new RedisStore(options);
    try {
      await store.start();
    } catch (error) {
      await store.close();
      throw error;
    }
    return store;
  }

  private constructor(options: RedisStoreOptions) {
    const prefix = options.prefix ?? DEFAULT_REDIS_PREFIX;
    if (!REDIS_PREFIX_PATTERN.test(prefix)) {
      throw new RangeError(`Redis key prefix must be ${REDIS_PREFIX_RULE}, got ${JSON.stringify(prefix)}`);
    }
    const historySize = options.historySize ?? DEFAULT_HISTORY_SIZE;
    if (!Number.isSafeInteger(historySize) || historySize < 1) {
      throw new RangeError(`historySize must be a positive integer, got ${historySize}`);
    }
    const maxAgeMs = options.maxAgeMs ?? 0;
    if (!Number.isSafeInteger(maxAgeMs) || maxAgeMs < 0) {
      throw new RangeError(`maxAgeMs must be a non-negative integer, got ${maxAgeMs}`);
    }
    this.prefix = prefix;
    this.historySize = historySize;
    this.maxAgeMs = maxAgeMs;
    // The braces are a Cluster hash tag: all of one hub's keys live in one slot, as Lua requires.
    const base = `{${prefix}}`;
    this.streamKey = `${base}:events`;
    this.keys = [
      this.streamKey,
      `${base}:newest`,
      `${base}:supplied-ids`,
      `${base}:supplied-order`,
      `${base}:states`,
      `${base}:retain-index`,
      `${base}:retain-times`,
      `${base}:retired`,
      `${base}:idempotency`,
      `${base}:idempotency-expiry`,
    ];
    this.warn = options.warn ?? ((message) => console.warn(`ssehub redis store: ${message}`));
    this.listeners = new LiveListeners(this.warn);
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5000;
    const commandTimeoutMs = options.commandTimeoutMs ?? 2000;
    this.commandTimeoutMs = commandTimeoutMs;
    this.commands = createClient(options, 'commands', commandTimeoutMs);
    this.feed = createClient(options, 'feed', FEED_BLOCK_MS + commandTimeoutMs);
    for (const client of [this.commands, this.feed]) {
      // Connection errors are reported through failed calls and isReady(); without a listener
      // ioredis would print every reconnect attempt. The socket error explains "Connection is
      // closed" better than the command's own error does.
      client.on('error', (error: Error) => (this.connectionError = error.message));
      client.on('ready', () => (this.connectionError = undefined));
    }
  }

  /**
   * Appends as part of a batch (see AppendBatches; appendBatch for what a StoreUnavailableError means).
   */
  async append(given: EventInput): Promise<StoredEvent> {
    if (this.closed) throw new Error('store is closed');
    // As stored, so that a repeat of it compares equal (see wellFormedInput).
    const input = wellFormedInput(given);
    checkSuppliedId(input.id, isStreamIdShape, '<milliseconds>-<sequence>');
    const fields = encodeFields(input);
    const claim = input.idempotency;
    const event: ScriptEvent = [
      input.id ?? '',
      input.keepsState ? wellFormedText(input.topics[0] as string) : '',
      input.keepsState && input.version !== undefined ? String(input.version) : '',
      claim?.fingerprint ?? '',
      String(claim?.windowMs ?? 0),
      wellFormedText(claim?.key ?? ''),
      input.retainCount !== undefined ? wellFormedText(input.topics[0] as string) : '',
      String(input.retainCount ?? 0),
      fields,
    ];
    const reply = await this.appends.add(event, charsOf(fields));
    const [status, streamId, storedFields] = reply as [string, string | undefined, string[] | undefined];
    if (status === 'stored' && streamId) return decodeEntry(streamId, fields);
    if (status === 'recorded' && streamId) {
      const [fingerprint, recordedId, recordedFields] = JSON.parse(streamId) as [string, string, string[]];
      if (fingerprint !== claim?.fingerprint) throw idempotencyMismatch();
      return decodeEntry(recordedId, recordedFields);
    }
    if (status === 'stale') {
      throw new StoreInputError(
        `Stale state: version ${input.version} is not newer than the stored version ${streamId}.`,
        'conflict',
      );
    }
    if (status === 'repeat' && streamId && storedFields) {
      // The script names a retired entry without sending its fields.
      const retained = decodeEntry(streamId, storedFields);
      return repeatedOrConflict(input, storedFields[0] === 'retired' ? retiredStub(retained) : retained);
    }
    throw new StoreUnavailableError('Redis gave no id for the appended event');
  }

  /**
   * Runs one batch of appends (see AppendBatches) with a deadline in Redis's clock, one command
   * timeout from now. When the answer does not come, this rejects only once Redis's clock is
   * certainly past the deadline, so the script refuses if Redis runs it later: a
   * StoreUnavailableError means "not stored, and never will be" (except in the one case the docs
   * name: Redis ran it in time but its reply was lost).
   */
  private async appendBatch(events: readonly ScriptEvent[]): Promise<readonly unknown[]> {
    // Closed while the batch waited for its turn: nothing was sent.
    if (this.closed) throw new Error('store is closed');
    const deadline = this.clock.deadlineAfter(this.commandTimeoutMs);
    let reply: unknown;
    try {
      reply = await this.run(
        APPEND_SCRIPT,
        [this.historySize, this.maxAgeMs, deadline, JSON.stringify(events)],
        true,
      );
    } catch (error) {
      if (mayHaveReachedRedis(error)) await this.untilPast(deadline);
      throw this.unavailable(error);
    }
    const [status, replies] = reply as [string, unknown[] | undefined];
    if (status === 'expired') {
      throw new StoreUnavailableError(
        'Redis unavailable: it ran the append after its deadline, storing nothing',
      );
    }
    if (status !== 'done' || replies?.length !== events.length) {
      throw new StoreUnavailableError('Redis gave no reply for some appended events');
    }
    return replies;
  }

  async locate(lastEventId: string): Promise<ResumePoint> {
    if (this.closed) throw new Error('store is closed');
    if (lastEventId === EARLIEST) return { ok: true, cursor: EARLIEST };
    let reply: unknown;
    try {
      reply = await this.run(LOCATE_SCRIPT, [lastEventId, this.maxAgeMs]);
    } catch (error) {
      throw this.unavailable(error);
    }
    const [status, cursor] = reply as [string, string | undefined];
    if (status === 'ok' && cursor !== undefined) return { ok: true, cursor };
    // The Redis data was lost and the stream began anew: all it holds is new to this client.
    if (status === 'earlier') return { ok: false, reason: 'unknown', resumeFrom: EARLIEST };
    return { ok: false, reason: status === 'expired' ? 'expired' : 'unknown' };
  }

  async readPage(request: PageRequest): Promise<HistoryPage> {
    if (this.closed) throw new Error('store is closed');
    let reply: unknown;
    try {
      reply = await this.run(PAGE_SCRIPT, [request.after, request.limit, this.maxAgeMs]);
    } catch (error) {
      throw this.unavailable(error);
    }
    const [status, newest, entries, retired, trimmed] = reply as [
      string,
      string,
      StreamEntry[],
      string[],
      string,
    ];
    if (status !== 'ok') return { ok: false, reason: 'expired' };
    const events = decodeEntries(entries, retired);
    const gone = trimmed !== NO_ID && request.after === EARLIEST ? { gone: trimmed } : {};
    const last = events[events.length - 1];
    if (last !== undefined && events.length >= request.limit) {
      return { ok: true, events, through: last.cursor, end: false, ...gone };
    }
    const through = newest === NO_ID ? request.after : newest;
    return { ok: true, events, through, end: true, ...gone };
  }

  async readLatest(request: LatestRequest): Promise<LatestPage> {
    if (this.closed) throw new Error('store is closed');
    let reply: unknown;
    try {
      reply = await this.run(LATEST_SCRIPT, [request.before ?? '', request.limit, this.maxAgeMs]);
    } catch (error) {
      throw this.unavailable(error);
    }
    const [newest, entries, retired] = reply as [string, StreamEntry[], string[]];
    const events = decodeEntries(entries, retired).reverse();
    const oldest = events[0];
    return {
      events,
      through: request.before ?? (newest === NO_ID ? EARLIEST : newest),
      next: events.length >= request.limit && oldest !== undefined ? oldest.cursor : undefined,
    };
  }

  async readStates(request: StateRequest): Promise<StateSnapshot> {
    if (this.closed) throw new Error('store is closed');
    let reply: unknown;
    try {
      reply = await this.run(STATES_SCRIPT, [...(request.topics ?? [])]);
    } catch (error) {
      throw this.unavailable(error);
    }
    const [newest, encoded] = reply as [string, string[]];
    const after = request.after;
    const states = encoded
      .map((value) => {
        const [id, fields] = JSON.parse(value) as [string, string[]];
        return decodeEntry(id, fields);
      })
      .filter((event) => after === undefined || this.compareCursors(event.cursor, after) > 0)
      .sort((a, b) => compareStreamIds(a.cursor, b.cursor));
    return { states, through: newest === NO_ID ? EARLIEST : newest };
  }

  head(): Promise<string> {
    return Promise.resolve(this.feedCursor === NO_ID ? EARLIEST : this.feedCursor);
  }

  onEvent(listener: LiveListener): () => void {
    return this.listeners.add(listener);
  }

  onFeedGap(listener: () => void): () => void {
    this.gapListeners.add(listener);
    return () => this.gapListeners.delete(listener);
  }

  compareCursors(a: string, b: string): number {
    if (a === b) return 0;
    if (a === EARLIEST) return -1;
    if (b === EARLIEST) return 1;
    return compareStreamIds(a, b);
  }

  isReady(): boolean {
    return !this.closed && !this.stalled && this.commands.status === 'ready' && this.feed.status === 'ready';
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.clockProbe);
    this.listeners.clear();
    this.gapListeners.clear();
    this.commands.disconnect();
    this.feed.disconnect();
    await this.following;
  }

  private async start(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new StoreUnavailableError(`no answer from Redis within ${this.connectTimeoutMs} ms`)),
        this.connectTimeoutMs,
      );
    });
    try {
      await Promise.race([Promise.all([this.commands.connect(), this.feed.connect()]), timeout]);
      const [newest] = (await Promise.race([this.run(NEWEST_SCRIPT, []), timeout])) as [string];
      this.feedCursor = newest;
      await Promise.race([this.measureClock(), timeout]);
    } catch (error) {
      throw this.unavailable(error);
    } finally {
      clearTimeout(timer);
    }
    this.clockProbe = setInterval(() => this.measureClock().catch(() => undefined), CLOCK_PROBE_MS);
    this.clockProbe.unref();
    this.following = this.follow();
  }

  /** One `TIME` on the command connection: a clock sample, and a sign of life (or of a stall). */
  private async measureClock(): Promise<void> {
    const sentAt = this.clock.localNow();
    const [seconds, micros] = (await this.command(() => this.commands.call('TIME'))) as [string, string];
    if (!this.clock.sample(sentAt, this.clock.localNow(), seconds, micros)) {
      this.warn('Redis clock jumped: append deadlines follow the new clock from now on');
    }
  }

  /** Waits until Redis's clock is certainly past `deadline`, by this store's estimate. */
  private async untilPast(deadline: number): Promise<void> {
    // The estimate only widens while waiting (drift allowance), so check again after each wait.
    for (let wait = this.clock.untilCertainlyPast(deadline); wait > 0;) {
      await delay(Math.ceil(wait));
      wait = this.clock.untilCertainlyPast(deadline);
    }
  }

  /** Delivers every event after `feedCursor` to the listeners, forever, resuming after failures. */
  private async follow(): Promise<void> {
    let failures = 0;
    while (!this.closed) {
      let reply: unknown;
      try {
        reply = await this.feed.call(
          'XREAD',
          'COUNT',
          FEED_BATCH_SIZE,
          'BLOCK',
          FEED_BLOCK_MS,
          'STREAMS',
          this.streamKey,
          this.feedCursor,
        );
      } catch (error) {
        if (this.closed) return;
        // A blocking read that outlived its own timeout means a silently dead connection (no FIN, no
        // RST): reconnect instead of queueing more reads on it.
        if (error instanceof Error && /timed out/i.test(error.message)) this.feed.disconnect(true);
        await delay(Math.min(50 * 2 ** failures++, 1000));
        continue;
      }
      failures = 0;
      if (!reply) continue;
      for (const [, entries] of reply as [string, StreamEntry[]][]) {
        for (const [id, fields] of entries) this.deliver(id, fields);
      }
    }
  }

  private deliver(id: string, fields: string[]): void {
    if (this.closed) return;
    const previous = fieldValue(fields, 'prev');
    if (previous !== undefined && previous !== this.feedCursor) {
      // Trimming overtook this hub's feed (it was cut off from Redis while others kept publishing
      // more than the retention), or the Redis data was lost: events in between never reach it.
      this.warn(
        `live feed skipped events between ${this.feedCursor} and ${id}: they were trimmed before delivery`,
      );
      for (const listener of this.gapListeners) listener();
    }
    const event = decodeEntry(id, fields);
    this.feedCursor = id;
    this.listeners.deliver(event);
  }

  /**
   * Runs a script. `now` writes it to the socket at once, past ioredis's auto-pipelining (which
   * holds a command until the loop's next turn): an append batch is a pipeline of its own, and
   * Redis should run it while the hub reads the next publishes (see AppendBatches).
   */
  private async run(script: LuaScript, args: (string | number)[], now = false): Promise<unknown> {
    // Every key a script may touch is declared (Redis Cluster requires it); all share one slot.
    const keys = this.keys;
    const send = (name: 'evalsha' | 'eval', body: string): Promise<unknown> =>
      now
        ? (this.commands.sendCommand(
            new Command(name, [body, keys.length, ...keys, ...args], { replyEncoding: 'utf8' }),
          ) as Promise<unknown>)
        : this.commands[name](body, keys.length, ...keys, ...args);
    try {
      return await this.command(() => send('evalsha', script.sha));
    } catch (error) {
      // NOSCRIPT means nothing ran (a fresh or restarted Redis): sending the source is safe.
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return await this.command(() => send('eval', script.source));
    }
  }

  /** Runs a command on the command connection, tracking whether Redis answers (for isReady). */
  private async command<T>(send: () => Promise<T>): Promise<T> {
    try {
      const reply = await send();
      this.stalled = false;
      return reply;
    } catch (error) {
      if (isTimeout(error)) this.stalled = true;
      else if (error instanceof ReplyError) this.stalled = false;
      throw error;
    }
  }

  private unavailable(error: unknown): StoreUnavailableError {
    if (error instanceof StoreUnavailableError) return error;
    const detail = error instanceof Error ? error.message : String(error);
    const down = this.commands.status !== 'ready' || /closed|writeable|MaxRetries/i.test(detail);
    const reason = down && this.connectionError ? this.connectionError : detail;
    return new StoreUnavailableError(`Redis unavailable: ${reason}`, { cause: error });
  }
}

function isTimeout(error: unknown): boolean {
  return error instanceof Error && /timed out/i.test(error.message);
}

/**
 * Whether a failed command may still run in Redis. An error reply means Redis refused it, and a
 * command refused while disconnected was never written; anything else (a timeout, a connection
 * that closed with the command written) leaves it possibly on its way.
 */
function mayHaveReachedRedis(error: unknown): boolean {
  if (error instanceof ReplyError) return false;
  return !(error instanceof Error && /enableOfflineQueue/.test(error.message));
}

function createClient(options: RedisStoreOptions, role: string, commandTimeout: number): RedisClient {
  const failFast: RedisOptions = {
    lazyConnect: true,
    // A command is never queued while disconnected, nor re-sent after a reconnect: an append that
    // might have been stored must not be stored twice, and the caller must hear about it now.
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    commandTimeout,
    connectTimeout: options.connectTimeoutMs ?? 5000,
    connectionName: `ssehub-${role}`,
    retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 1000),
    // Appends, lookups and pages issued in one turn of the event loop (a burst of publishes, a
    // reconnect storm) go out in one write and come back in one read. Not for the feed: a blocking
    // XREAD must not hold back other commands.
    enableAutoPipelining: role === 'commands',
  };
  if (options.cluster) {
    return new Cluster(options.cluster.nodes, {
      ...options.cluster.options,
      lazyConnect: true,
      enableOfflineQueue: false,
      clusterRetryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 1000),
      enableAutoPipelining: role === 'commands',
      redisOptions: { ...options.cluster.options?.redisOptions, ...failFast },
    });
  }
  return new Redis(options.url ?? 'redis://127.0.0.1:6379', { ...options.redisOptions, ...failFast });
}

const MAX_STREAM_ID_PART = '18446744073709551615';

/**
 * Whether `id` is a canonical stream id (`<ms>-<seq>`, each an unsigned 64-bit decimal without
 * leading zeros): exactly the ids a resume reads as stream positions, so a supplied id of this
 * shape could shadow a generated one.
 */
export function isStreamIdShape(id: string): boolean {
  const match = /^(0|[1-9][0-9]{0,19})-(0|[1-9][0-9]{0,19})$/.exec(id);
  if (!match) return false;
  return (
    comparePart(match[1] as string, MAX_STREAM_ID_PART) <= 0 &&
    comparePart(match[2] as string, MAX_STREAM_ID_PART) <= 0
  );
}

/** Orders two stream ids (`<ms>-<seq>`, each an unsigned 64-bit decimal without leading zeros). */
export function compareStreamIds(a: string, b: string): number {
  const dashA = a.indexOf('-');
  const dashB = b.indexOf('-');
  return (
    comparePart(a.slice(0, dashA), b.slice(0, dashB)) || comparePart(a.slice(dashA + 1), b.slice(dashB + 1))
  );
}

function comparePart(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The input with its stored strings well-formed (itself when they already are): Redis's JSON
 * decoder refuses a lone surrogate's escape, and one such event would fail its whole batch.
 */
function wellFormedInput(input: EventInput): EventInput {
  const { data, type, id } = input;
  if (data.isWellFormed() && (type?.isWellFormed() ?? true) && (id?.isWellFormed() ?? true)) return input;
  return {
    ...input,
    data: wellFormedText(data),
    type: type === undefined ? undefined : wellFormedText(type),
    id: id === undefined ? undefined : wellFormedText(id),
  };
}

function charsOf(fields: readonly string[]): number {
  let chars = 0;
  for (const field of fields) chars += field.length;
  return chars;
}

function encodeFields(input: EventInput): string[] {
  const fields = ['topics', JSON.stringify(input.topics), 'data', input.data];
  if (input.type !== undefined) fields.push('type', input.type);
  if (input.retry !== undefined) fields.push('retry', String(input.retry));
  if (input.private) fields.push('private', '1');
  if (input.id !== undefined) fields.push('id', input.id);
  if (input.ttlMs !== undefined) fields.push('ttl', String(input.ttlMs));
  if (input.keepsState && input.version !== undefined) fields.push('version', String(input.version));
  return fields;
}

function decodeEntry(streamId: string, fields: readonly string[]): StoredEvent {
  let topics: string[] = [];
  let data = '';
  let type: string | undefined;
  let retry: number | undefined;
  let isPrivate = false;
  let supplied: string | undefined;
  let ttlMs: number | undefined;
  let version: number | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const value = fields[i + 1] as string;
    switch (fields[i]) {
      case 'topics':
        topics = JSON.parse(value) as string[];
        break;
      case 'data':
        data = value;
        break;
      case 'type':
        type = value;
        break;
      case 'retry':
        retry = Number(value);
        break;
      case 'private':
        isPrivate = value === '1';
        break;
      case 'id':
        supplied = value;
        break;
      case 'ttl':
        ttlMs = Number(value);
        break;
      case 'version':
        version = Number(value);
        break;
    }
  }
  const time = Number(streamId.slice(0, streamId.indexOf('-')));
  return {
    id: supplied ?? streamId,
    cursor: streamId,
    topics,
    data,
    type,
    retry,
    private: isPrivate,
    time,
    ...(ttlMs !== undefined && { expiresAt: time + ttlMs }),
    ...(version !== undefined && { version }),
  };
}

/** Decodes a script's entries; those it names retired read as stubs (see StoredEvent.retired). */
function decodeEntries(entries: readonly StreamEntry[], retired: readonly string[]): StoredEvent[] {
  const retiredIds = new Set(retired);
  return entries.map(([id, fields]) => {
    const event = decodeEntry(id, fields);
    return retiredIds.has(id) ? retiredStub(event) : event;
  });
}

function fieldValue(fields: readonly string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
