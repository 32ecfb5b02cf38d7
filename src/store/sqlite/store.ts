import type { Database as Connection } from 'better-sqlite3';
import { checkStateVersion, idempotencyMismatch, retiredStub } from '../append-rules.js';
import { StoreUnavailableError } from '../errors.js';
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
} from '../types.js';
import { EARLIEST } from '../types.js';
import { checkSuppliedId, repeatedOrConflict } from '../supplied-ids.js';
import { openDatabase } from './database.js';
import type { SyncLevel } from './database.js';
import { Retention } from './retention.js';
import { DEFAULT_HISTORY_SIZE } from '../../defaults.js';
import { LiveListeners } from '../live-listeners.js';

export interface SqliteStoreOptions {
  /** Directory of the history file (`events.sqlite`); created if missing. */
  dataDir: string;
  /** Events to retain, all topics together. Default 10,000. */
  historySize?: number | undefined;
  /** Also drop events older than this many milliseconds. Default: no age limit. */
  maxAgeMs?: number | undefined;
  /** Also keep at most this many events per topic. Default: no per-topic limit. */
  historyPerTopic?: number | undefined;
  /** How far each commit is synced before publishes are answered (see `SyncLevel`). Default `full`. */
  sync?: SyncLevel | undefined;
  /** Clock, for tests. */
  now?: () => number;
  /** Where trouble no caller waits for is reported. Default `console.warn`. */
  warn?: (message: string) => void;
}

/** Appends committed in one transaction at most: bounds how long one commit holds the event loop. */
const MAX_BATCH = 1000;
/** Beyond this many exact topics a page scans the log instead of merging per-topic index reads. */
const MAX_INDEXED_TOPICS = 64;

/** What one append of a batch came to: a stored event, a retained one it repeats, or a refusal. */
type AppendOutcome =
  | { readonly event: StoredEvent; readonly stored: boolean; readonly error?: undefined }
  | { readonly error: Error };

/**
 * The `ttl` of a retired row (see `StoredEvent.retired`): its data is dropped and it reads as a stub.
 * A sentinel in an existing column rather than a new one: no schema change, and an older ssehub
 * reading the file sees the row as long expired, which it also never replays.
 */
const RETIRED_TTL = -1;

/** `<epoch>-<sequence>`, the epoch 12 hex digits: refused as a supplied id, issued here or not. */
const SQLITE_ID_SHAPE = /^[0-9a-f]{12}-[1-9][0-9]{0,15}$/;

function isSqliteIdShape(id: string): boolean {
  return SQLITE_ID_SHAPE.test(id);
}

interface PendingAppend {
  readonly input: EventInput;
  readonly resolve: (event: StoredEvent) => void;
  readonly reject: (error: Error) => void;
}

interface EventRow {
  seq: number;
  supplied_id: string | null;
  time: number;
  topics: string;
  data: string;
  type: string | null;
  retry: number | null;
  private: number;
  ttl: number | null;
  version: number | null;
}

/** What the appends of one batch saw or wrote, so that later appends of the batch see it too. */
interface BatchView {
  readonly suppliedIds: Map<string, StoredEvent>;
  readonly states: Map<string, StoredEvent>;
  readonly idempotency: Map<string, { fingerprint: string; event: StoredEvent }>;
}

/**
 * Durable store in an embedded SQLite file (WAL mode): the history survives restarts and crashes of
 * the hub. Generated ids are `<epoch>-<sequence>`, the epoch belonging to the data directory, so an
 * id issued before a restart resumes exactly and one from another directory is unknown.
 *
 * Group commit: appends arriving in the same turn of the event loop are written in one transaction
 * with one sync, and each is resolved (and delivered to live listeners, in order) only once that
 * transaction has committed. Open it with `SqliteStore.open`.
 */
export class SqliteStore implements Store {
  readonly kind = 'sqlite';
  readonly file: string;
  readonly epoch: string;
  private readonly db: Connection;
  private readonly retention: Retention;
  /** Most idempotency records kept: a flood of distinct keys cannot outgrow the history's bound. */
  private readonly maxIdempotencyRecords: number;
  private readonly now: () => number;
  private readonly warn: (message: string) => void;
  private readonly statements: ReturnType<typeof prepare>;
  private readonly listeners: LiveListeners;
  private pending: PendingAppend[] = [];
  private flushScheduled = false;
  /** Counted topic → the newest sequence retired by its retained count (a lower bound for scans). */
  private readonly retiredThrough = new Map<string, number>();
  /** Sequence of the newest committed event (or of the newest ever deleted, when none is left). */
  private lastSeq: number;
  /** Time of the newest committed event: times never decrease along the log. */
  private lastTime: number;
  private closed = false;
  /** Transactions committed by appends (group commit: usually far fewer than appends). */
  commits = 0;

  /** Opens or creates the history in `options.dataDir`; throws StoreOpenError when it cannot. */
  static open(options: SqliteStoreOptions): SqliteStore {
    return new SqliteStore(options);
  }

  private constructor(options: SqliteStoreOptions) {
    const historySize = options.historySize ?? DEFAULT_HISTORY_SIZE;
    if (!Number.isSafeInteger(historySize) || historySize < 1) {
      throw new RangeError(`historySize must be a positive integer, got ${historySize}`);
    }
    this.maxIdempotencyRecords = historySize;
    this.now = options.now ?? Date.now;
    this.warn = options.warn ?? ((message) => console.warn(`ssehub sqlite store: ${message}`));
    this.listeners = new LiveListeners(this.warn);
    const { db, file, epoch } = openDatabase(options.dataDir, options.sync ?? 'full');
    this.db = db;
    this.file = file;
    this.epoch = epoch;
    this.statements = prepare(db);
    const newest = this.statements.newest.get() as EventRow | undefined;
    this.lastTime = newest?.time ?? 0;
    this.retention = new Retention(
      db,
      { historySize, maxAgeMs: options.maxAgeMs, perTopic: options.historyPerTopic },
      () => this.lastSeq,
      this.now,
      this.warn,
    );
    this.lastSeq = Math.max(newest?.seq ?? 0, this.retention.deleted);
  }

  append(input: EventInput): Promise<StoredEvent> {
    if (this.closed) return Promise.reject(new Error('store is closed'));
    try {
      checkSuppliedId(input.id, isSqliteIdShape, '<epoch>-<sequence>');
    } catch (error) {
      return Promise.reject(error as Error);
    }
    return new Promise((resolve, reject) => {
      this.pending.push({ input, resolve, reject });
      if (this.flushScheduled) return;
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    });
  }

  locate(lastEventId: string): Promise<ResumePoint> {
    if (lastEventId === EARLIEST) return Promise.resolve({ ok: true, cursor: EARLIEST });
    const floor = this.retention.floor();
    const supplied = this.statements.bySuppliedId.get(lastEventId, floor) as { seq: number } | undefined;
    if (supplied) return Promise.resolve({ ok: true, cursor: this.cursorOf(supplied.seq) });
    const seq = this.generatedSequence(lastEventId);
    if (seq === undefined || seq > this.lastSeq) return Promise.resolve({ ok: false, reason: 'unknown' });
    // The event right before the oldest retained one is still a valid resume point: nothing is missed.
    if (seq < floor) return Promise.resolve({ ok: false, reason: 'expired' });
    return Promise.resolve({ ok: true, cursor: this.cursorOf(seq) });
  }

  readPage(request: PageRequest): Promise<HistoryPage> {
    try {
      return Promise.resolve(this.page(request));
    } catch (error) {
      return Promise.reject(unavailable('could not read the history', error));
    }
  }

  readStates(request: StateRequest): Promise<StateSnapshot> {
    try {
      const rows =
        request.topics === undefined
          ? (this.statements.allStates.all() as { event: string }[])
          : request.topics.flatMap((topic) => (this.statements.state.get(topic) as { event: string }) ?? []);
      const after = request.after === undefined ? undefined : cursorSequence(request.after);
      const states = rows
        .map((row) => JSON.parse(row.event) as StoredEvent)
        .filter((event) => after === undefined || cursorSequence(event.cursor) > after)
        .sort((a, b) => cursorSequence(a.cursor) - cursorSequence(b.cursor));
      // Appends commit synchronously in `flush`: nothing lands between these reads and `lastSeq`.
      return Promise.resolve({
        states,
        through: this.lastSeq === 0 ? EARLIEST : this.cursorOf(this.lastSeq),
      });
    } catch (error) {
      return Promise.reject(unavailable('could not read the states', error));
    }
  }

  head(): Promise<string> {
    const row = this.statements.newestAbove.get(this.retention.floor()) as EventRow | undefined;
    // A cursor, never a supplied id: a supplied id could name a private update.
    return Promise.resolve(row ? this.cursorOf(row.seq) : EARLIEST);
  }

  onEvent(listener: LiveListener): () => void {
    return this.listeners.add(listener);
  }

  /** The live feed is this process's own commits: it never skips an event. */
  onFeedGap(): () => void {
    return () => undefined;
  }

  compareCursors(a: string, b: string): number {
    return cursorSequence(a) - cursorSequence(b);
  }

  isReady(): boolean {
    return !this.closed;
  }

  /** Commits the appends already accepted, then closes the file (releasing its lock). */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.flush();
    this.closed = true;
    this.retention.close();
    this.listeners.clear();
    this.db.close();
    return Promise.resolve();
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.closed || this.pending.length === 0) return;
    const batch = this.pending.splice(0, MAX_BATCH);
    if (this.pending.length > 0) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
    let outcomes: AppendOutcome[];
    try {
      // One time for the whole batch, never before the previous one: age limits rely on it.
      const time = Math.max(this.now(), this.lastTime);
      outcomes = this.db.transaction(() => this.insertBatch(batch, time))();
    } catch (error) {
      const failure = unavailable('could not store the event', error);
      for (const { reject } of batch) reject(failure);
      return;
    }
    this.commits++;
    const topics = new Set<string>();
    for (const [index, outcome] of outcomes.entries()) {
      const waiter = batch[index] as PendingAppend;
      if (outcome.error) {
        waiter.reject(outcome.error);
        continue;
      }
      if (outcome.stored) {
        this.lastSeq = cursorSequence(outcome.event.cursor);
        this.lastTime = outcome.event.time;
        for (const topic of outcome.event.topics) topics.add(topic);
        this.listeners.deliver(outcome.event);
      }
      waiter.resolve(outcome.event);
    }
    this.retention.appended(topics);
  }

  /**
   * Inserts a batch in one transaction. A recorded idempotency key answers its event (or 422); a
   * supplied id already retained (or taken earlier in the batch) stores nothing: an identical repeat
   * answers the original, anything else is refused; a stale state version is refused.
   */
  private insertBatch(batch: readonly PendingAppend[], time: number): AppendOutcome[] {
    let seq = this.lastSeq;
    const view: BatchView = { suppliedIds: new Map(), states: new Map(), idempotency: new Map() };
    const floor = this.retention.floor();
    this.statements.forgetIdempotency.run(time);
    const counted = new Map<string, number>();
    const outcomes = batch.map(({ input }): AppendOutcome => {
      try {
        const earlier = this.earlierOutcome(input, view, floor);
        if (earlier !== undefined) return { event: earlier, stored: false };
      } catch (error) {
        return { error: error as Error };
      }
      const event = this.insert(input, ++seq, time);
      if (input.id !== undefined) view.suppliedIds.set(input.id, event);
      if (input.keepsState) {
        const topic = input.topics[0] as string;
        this.statements.putState.run(topic, seq, JSON.stringify(event));
        view.states.set(topic, event);
      }
      const claim = input.idempotency;
      if (claim !== undefined) {
        const record = JSON.stringify(event);
        this.statements.putIdempotency.run(claim.key, claim.fingerprint, time + claim.windowMs, record);
        view.idempotency.set(claim.key, { fingerprint: claim.fingerprint, event });
      }
      if (input.retainCount !== undefined) counted.set(input.topics[0] as string, input.retainCount);
      return { event, stored: true };
    });
    for (const [topic, count] of counted) this.retireBeyond(topic, count, floor);
    // The soonest to expire go first, as the window would take them next anyway.
    if (view.idempotency.size > 0) this.statements.capIdempotency.run(this.maxIdempotencyRecords);
    return outcomes;
  }

  /**
   * Retires the events of canonical topic `topic` older than its newest `count`, in the append's
   * transaction: no reader sees them whole once the append is answered. The scan starts after the
   * newest retired sequence known, so it reads about `count` rows, not the topic's whole history.
   */
  private retireBeyond(topic: string, count: number, floor: number): void {
    const from = Math.max(floor, this.retiredThrough.get(topic) ?? 0);
    const victims = this.statements.beyondCount.all({ topic, from, retired: RETIRED_TTL, count }) as {
      seq: number;
    }[];
    let newest = this.retiredThrough.get(topic) ?? 0;
    for (const { seq } of victims) {
      this.statements.retire.run(RETIRED_TTL, seq);
      newest = Math.max(newest, seq);
    }
    if (newest > 0) this.retiredThrough.set(topic, newest);
  }

  /** The event an append repeats (idempotency key, supplied id), or undefined; throws a refusal. */
  private earlierOutcome(input: EventInput, view: BatchView, floor: number): StoredEvent | undefined {
    const claim = input.idempotency;
    if (claim !== undefined) {
      const row = this.statements.idempotency.get(claim.key) as
        { fingerprint: string; event: string } | undefined;
      const record =
        view.idempotency.get(claim.key) ??
        (row && { fingerprint: row.fingerprint, event: JSON.parse(row.event) as StoredEvent });
      if (record !== undefined) {
        if (record.fingerprint !== claim.fingerprint) throw idempotencyMismatch();
        return record.event;
      }
    }
    if (input.id !== undefined) {
      const retained = view.suppliedIds.get(input.id) ?? this.retainedBySuppliedId(input.id, floor);
      if (retained !== undefined) return repeatedOrConflict(input, retained);
    }
    if (input.keepsState) {
      const topic = input.topics[0] as string;
      const row = this.statements.state.get(topic) as { event: string } | undefined;
      checkStateVersion(input, view.states.get(topic) ?? (row && (JSON.parse(row.event) as StoredEvent)));
    }
    return undefined;
  }

  private retainedBySuppliedId(id: string, floor: number): StoredEvent | undefined {
    const row = this.statements.bySuppliedId.get(id, floor) as { seq: number } | undefined;
    return row === undefined ? undefined : this.eventOf(this.statements.bySeq.get(row.seq) as EventRow);
  }

  /** Inserts one event at `seq`. */
  private insert(input: EventInput, seq: number, time: number): StoredEvent {
    const cursor = this.cursorOf(seq);
    const topics = JSON.stringify(input.topics);
    this.statements.insertEvent.run(
      seq,
      input.id ?? null,
      time,
      topics,
      input.data,
      input.type ?? null,
      input.retry ?? null,
      input.private ? 1 : 0,
      input.ttlMs ?? null,
      input.keepsState ? (input.version ?? null) : null,
    );
    for (const topic of new Set(input.topics)) this.statements.insertTopic.run(seq, topic);
    return {
      id: input.id ?? cursor,
      cursor,
      topics: input.topics,
      data: input.data,
      type: input.type,
      retry: input.retry,
      private: input.private ?? false,
      time,
      ...(input.ttlMs !== undefined && { expiresAt: time + input.ttlMs }),
      ...(input.keepsState && input.version !== undefined && { version: input.version }),
    };
  }

  private page({ after, limit, topics }: PageRequest): HistoryPage {
    const floor = this.retention.floor();
    const afterSeq = cursorSequence(after);
    if (after !== EARLIEST && afterSeq < floor) return { ok: false, reason: 'expired' };
    if (after !== EARLIEST && this.retention.missedTopicTrim(afterSeq, topics)) {
      return { ok: false, reason: 'expired' };
    }
    const from = Math.max(afterSeq, floor);
    const rows =
      topics !== undefined && topics.length <= MAX_INDEXED_TOPICS
        ? this.rowsOfTopics(topics, from, limit)
        : (this.statements.pageAll.all(from, limit) as EventRow[]);
    const events = rows.map((row) => this.eventOf(row));
    if (events.length === limit) {
      return { ok: true, events, through: (events[events.length - 1] as StoredEvent).cursor, end: false };
    }
    const newest = Math.max(afterSeq, this.lastSeq);
    const through = newest === 0 ? after : this.cursorOf(newest);
    const gone = after === EARLIEST ? this.retention.trimmedThrough(topics) : 0;
    return { ok: true, events, through, end: true, ...(gone > 0 && { gone: this.cursorOf(gone) }) };
  }

  readLatest({ before, limit, topics }: LatestRequest): Promise<LatestPage> {
    try {
      const floor = this.retention.floor();
      const beforeSeq = before === undefined ? this.lastSeq + 1 : cursorSequence(before);
      const through = before ?? (this.lastSeq > floor ? this.cursorOf(this.lastSeq) : EARLIEST);
      const rows =
        topics !== undefined && topics.length <= MAX_INDEXED_TOPICS
          ? this.latestRowsOfTopics(topics, floor, beforeSeq, limit)
          : (this.statements.latestAll.all(beforeSeq, floor, limit) as EventRow[]);
      const events = rows.map((row) => this.eventOf(row)).reverse();
      const oldest = events[0];
      const next = events.length === limit && oldest !== undefined ? oldest.cursor : undefined;
      return Promise.resolve({ events, through, next });
    } catch (error) {
      return Promise.reject(unavailable('could not read the history', error));
    }
  }

  /** The newest `limit` events before `beforeSeq` carrying one of `topics`, newest first. */
  private latestRowsOfTopics(
    topics: readonly string[],
    floor: number,
    beforeSeq: number,
    limit: number,
  ): EventRow[] {
    const sequences = new Set<number>();
    for (const topic of new Set(topics)) {
      const rows = this.statements.latestOfTopic.all(topic, beforeSeq, floor, limit) as { seq: number }[];
      for (const { seq } of rows) sequences.add(seq);
    }
    const wanted = [...sequences].sort((a, b) => b - a).slice(0, limit);
    return wanted.map((seq) => this.statements.bySeq.get(seq) as EventRow);
  }

  /** The first `limit` events after `from` carrying one of `topics`, through the topic index. */
  private rowsOfTopics(topics: readonly string[], from: number, limit: number): EventRow[] {
    const sequences = new Set<number>();
    for (const topic of new Set(topics)) {
      for (const { seq } of this.statements.topicPage.all(topic, from, limit) as { seq: number }[]) {
        sequences.add(seq);
      }
    }
    const wanted = [...sequences].sort((a, b) => a - b).slice(0, limit);
    return wanted.map((seq) => this.statements.bySeq.get(seq) as EventRow);
  }

  private eventOf(row: EventRow): StoredEvent {
    const cursor = this.cursorOf(row.seq);
    const event: StoredEvent = {
      id: row.supplied_id ?? cursor,
      cursor,
      topics: JSON.parse(row.topics) as string[],
      data: row.data,
      type: row.type ?? undefined,
      retry: row.retry ?? undefined,
      private: row.private === 1,
      time: row.time,
      ...(row.ttl !== null && { expiresAt: row.time + row.ttl }),
      ...(row.version !== null && { version: row.version }),
    };
    return row.ttl === RETIRED_TTL ? retiredStub(event) : event;
  }

  private cursorOf(seq: number): string {
    return `${this.epoch}-${seq}`;
  }

  /** The sequence in an id this data directory generated, or undefined for any other string. */
  private generatedSequence(id: string): number | undefined {
    const dash = id.lastIndexOf('-');
    if (dash <= 0 || id.slice(0, dash) !== this.epoch) return undefined;
    const digits = id.slice(dash + 1);
    return /^[1-9][0-9]{0,15}$/.test(digits) ? Number(digits) : undefined;
  }
}

/** The sequence number in a cursor; `EARLIEST` is 0, before every stored event. */
function cursorSequence(cursor: string): number {
  return cursor === EARLIEST ? 0 : Number(cursor.slice(cursor.lastIndexOf('-') + 1));
}

function unavailable(what: string, error: unknown): StoreUnavailableError {
  const reason = error instanceof Error ? error.message : String(error);
  return new StoreUnavailableError(`${what}: ${reason}`, { cause: error });
}

function prepare(db: Connection) {
  return {
    insertEvent: db.prepare(
      'INSERT INTO events (seq, supplied_id, time, topics, data, type, retry, private, ttl, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    insertTopic: db.prepare('INSERT INTO event_topics (seq, topic) VALUES (?, ?)'),
    newest: db.prepare('SELECT * FROM events ORDER BY seq DESC LIMIT 1'),
    newestAbove: db.prepare('SELECT seq FROM events WHERE seq > ? ORDER BY seq DESC LIMIT 1'),
    bySuppliedId: db.prepare('SELECT seq FROM events WHERE supplied_id = ? AND seq > ? ORDER BY seq LIMIT 1'),
    bySeq: db.prepare('SELECT * FROM events WHERE seq = ?'),
    pageAll: db.prepare('SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?'),
    topicPage: db.prepare('SELECT seq FROM event_topics WHERE topic = ? AND seq > ? ORDER BY seq LIMIT ?'),
    state: db.prepare('SELECT event FROM states WHERE topic = ?'),
    allStates: db.prepare('SELECT event FROM states'),
    putState: db.prepare('INSERT OR REPLACE INTO states (topic, seq, event) VALUES (?, ?, ?)'),
    idempotency: db.prepare('SELECT fingerprint, event FROM idempotency WHERE key = ?'),
    putIdempotency: db.prepare(
      'INSERT OR REPLACE INTO idempotency (key, fingerprint, until, event) VALUES (?, ?, ?, ?)',
    ),
    forgetIdempotency: db.prepare('DELETE FROM idempotency WHERE until <= ?'),
    capIdempotency: db.prepare(
      `DELETE FROM idempotency WHERE key IN (SELECT key FROM idempotency ORDER BY until
       LIMIT max(0, (SELECT count(*) FROM idempotency) - ?))`,
    ),
    latestAll: db.prepare('SELECT * FROM events WHERE seq < ? AND seq > ? ORDER BY seq DESC LIMIT ?'),
    latestOfTopic: db.prepare(
      'SELECT seq FROM event_topics WHERE topic = ? AND seq < ? AND seq > ? ORDER BY seq DESC LIMIT ?',
    ),
    // The topic's events (by canonical topic) past its newest `count` still holding their data.
    beyondCount: db.prepare(
      `SELECT e.seq FROM event_topics t JOIN events e ON e.seq = t.seq
       WHERE t.topic = @topic AND t.seq > @from AND e.ttl IS NOT @retired AND json_extract(e.topics, '$[0]') = @topic
       ORDER BY t.seq DESC LIMIT -1 OFFSET @count`,
    ),
    retire: db.prepare("UPDATE events SET data = '', type = NULL, retry = NULL, ttl = ? WHERE seq = ?"),
  };
}
