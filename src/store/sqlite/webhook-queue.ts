import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { Database as Connection, Statement } from 'better-sqlite3';
import { StoreOpenError } from '../errors.js';
import { createPrivateFile } from './database.js';
import { DEFAULT_WEBHOOK_DEDUP_WINDOW_MS, DEFAULT_WEBHOOK_MAX_QUEUED } from '../webhook-queue.js';
import type {
  ClaimedWebhook,
  EnqueueOutcome,
  WebhookMessage,
  WebhookQueue,
  WebhookQueueLimits,
} from '../webhook-queue.js';

/** The queue's file, next to the history file in the data directory. */
export const WEBHOOK_QUEUE_FILE = 'webhooks.sqlite';

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS webhook_messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint TEXT NOT NULL,
    order_key TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    queued_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX IF NOT EXISTS webhook_messages_by_line ON webhook_messages (endpoint, order_key, seq);
  CREATE TABLE IF NOT EXISTS webhook_lines (
    endpoint TEXT NOT NULL,
    order_key TEXT NOT NULL,
    not_before INTEGER NOT NULL,
    claim TEXT,
    lease_until INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (endpoint, order_key)
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS webhook_lines_by_time ON webhook_lines (endpoint, not_before);
  CREATE TABLE IF NOT EXISTS webhook_seen (
    endpoint TEXT NOT NULL,
    id TEXT NOT NULL,
    until INTEGER NOT NULL,
    PRIMARY KEY (endpoint, id)
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS webhook_seen_by_until ON webhook_seen (until);
`;

interface LineRow {
  order_key: string;
}

interface MessageRow {
  seq: number;
  id: string;
  order_key: string;
  body: string;
  queued_at: number;
  attempts: number;
}

export interface SqliteWebhookQueueOptions extends WebhookQueueLimits {
  /** The data directory (the history's, usually): the queue is `webhooks.sqlite` in it. */
  dataDir: string;
  /** Clock, for tests. */
  now?: () => number;
}

/**
 * The webhook queue in an SQLite file of its own in the data directory: what is pending survives a
 * restart or a crash of the hub. One process uses it (the data directory's lock is the history's);
 * claims of an earlier life are void on open, so its in-flight deliveries are resent at once.
 * Commits are not synced to disk (`synchronous = NORMAL`): a crash loses nothing, a power loss may
 * lose the last changes, which means at worst a message sent again or one never sent.
 */
export class SqliteWebhookQueue implements WebhookQueue {
  readonly kind = 'sqlite';
  private readonly db: Connection;
  private readonly now: () => number;
  private readonly maxQueued: number;
  private readonly dedupWindowMs: number;
  /** Messages waiting per endpoint, counted once from the file, then kept here. */
  private readonly sizes = new Map<string, number>();
  private readonly statements: Record<string, Statement>;
  private readonly claimPrefix = randomBytes(6).toString('hex');
  private nextClaim = 1;

  static open(options: SqliteWebhookQueueOptions): SqliteWebhookQueue {
    const file = join(resolve(options.dataDir), WEBHOOK_QUEUE_FILE);
    let db: Connection;
    try {
      createPrivateFile(file);
      db = new Database(file);
      db.pragma('locking_mode = EXCLUSIVE');
      db.pragma('busy_timeout = 0');
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.exec(SCHEMA);
      // Claims of an earlier life of the hub: nobody holds them now.
      db.prepare('UPDATE webhook_lines SET claim = NULL WHERE claim IS NOT NULL').run();
    } catch (error) {
      throw new StoreOpenError(`cannot open the webhook queue ${file}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    return new SqliteWebhookQueue(db, options);
  }

  private constructor(db: Connection, options: SqliteWebhookQueueOptions) {
    this.db = db;
    this.now = options.now ?? Date.now;
    this.maxQueued = options.maxQueued ?? DEFAULT_WEBHOOK_MAX_QUEUED;
    this.dedupWindowMs = options.dedupWindowMs ?? DEFAULT_WEBHOOK_DEDUP_WINDOW_MS;
    this.statements = {
      forgetSeen: db.prepare(
        'DELETE FROM webhook_seen WHERE (endpoint, id) IN (SELECT endpoint, id FROM webhook_seen WHERE until <= ? LIMIT 100)',
      ),
      seen: db.prepare('SELECT 1 FROM webhook_seen WHERE endpoint = ? AND id = ? AND until > ?'),
      remember: db.prepare('INSERT OR REPLACE INTO webhook_seen (endpoint, id, until) VALUES (?, ?, ?)'),
      insert: db.prepare(
        'INSERT INTO webhook_messages (endpoint, order_key, id, body, queued_at) VALUES (?, ?, ?, ?, ?)',
      ),
      openLine: db.prepare(
        'INSERT OR IGNORE INTO webhook_lines (endpoint, order_key, not_before) VALUES (?, ?, 0)',
      ),
      count: db.prepare('SELECT count(*) AS n FROM webhook_messages WHERE endpoint = ?'),
      claimable: db.prepare(
        `SELECT order_key FROM webhook_lines WHERE endpoint = ? AND not_before <= ?
           AND (claim IS NULL OR lease_until <= ?) ORDER BY not_before LIMIT ?`,
      ),
      head: db.prepare(
        'SELECT seq, id, order_key, body, queued_at, attempts FROM webhook_messages WHERE endpoint = ? AND order_key = ? ORDER BY seq LIMIT 1',
      ),
      countAttempt: db.prepare('UPDATE webhook_messages SET attempts = attempts + 1 WHERE seq = ?'),
      lease: db.prepare(
        'UPDATE webhook_lines SET claim = ?, lease_until = ?, not_before = ? WHERE endpoint = ? AND order_key = ?',
      ),
      claimOf: db.prepare('SELECT claim FROM webhook_lines WHERE endpoint = ? AND order_key = ?'),
      remove: db.prepare('DELETE FROM webhook_messages WHERE endpoint = ? AND order_key = ? AND id = ?'),
      release: db.prepare(
        'UPDATE webhook_lines SET claim = NULL, not_before = ? WHERE endpoint = ? AND order_key = ?',
      ),
      closeLineIfEmpty: db.prepare(
        `DELETE FROM webhook_lines WHERE endpoint = ? AND order_key = ?
           AND NOT EXISTS (SELECT 1 FROM webhook_messages WHERE endpoint = ? AND order_key = ?)`,
      ),
    };
  }

  enqueue(endpoint: string, message: WebhookMessage): Promise<EnqueueOutcome> {
    return this.run(() => {
      const now = this.now();
      const s = this.statements;
      s.forgetSeen!.run(now);
      if (s.seen!.get(endpoint, message.id, now)) return 'duplicate';
      if (this.sizeOf(endpoint) >= this.maxQueued) return 'full';
      s.remember!.run(endpoint, message.id, now + this.dedupWindowMs);
      s.insert!.run(endpoint, message.orderKey, message.id, message.body, now);
      s.openLine!.run(endpoint, message.orderKey);
      this.sizes.set(endpoint, this.sizeOf(endpoint) + 1);
      return 'queued';
    });
  }

  claim(endpoint: string, limit: number, leaseMs: number): Promise<ClaimedWebhook[]> {
    return this.run(() => {
      const now = this.now();
      const s = this.statements;
      const lines = s.claimable!.all(endpoint, now, now, limit) as LineRow[];
      const claimed: ClaimedWebhook[] = [];
      for (const { order_key: orderKey } of lines) {
        const head = s.head!.get(endpoint, orderKey) as MessageRow | undefined;
        if (!head) {
          s.closeLineIfEmpty!.run(endpoint, orderKey, endpoint, orderKey);
          continue;
        }
        const claim = `${this.claimPrefix}-${this.nextClaim++}`;
        s.countAttempt!.run(head.seq);
        // not_before set to now: the line keeps its place in the rotation behind those waiting longer.
        s.lease!.run(claim, now + leaseMs, now, endpoint, orderKey);
        claimed.push({
          id: head.id,
          orderKey,
          body: head.body,
          queuedAt: head.queued_at,
          attempt: head.attempts + 1,
          claim,
        });
      }
      return claimed;
    });
  }

  ack(endpoint: string, message: ClaimedWebhook): Promise<boolean> {
    return this.run(() => {
      if (!this.holds(endpoint, message)) return false;
      const s = this.statements;
      const size = this.sizeOf(endpoint);
      const removed = s.remove!.run(endpoint, message.orderKey, message.id).changes;
      this.sizes.set(endpoint, size - removed);
      s.release!.run(this.now(), endpoint, message.orderKey);
      s.closeLineIfEmpty!.run(endpoint, message.orderKey, endpoint, message.orderKey);
      return true;
    });
  }

  retryLater(endpoint: string, message: ClaimedWebhook, delayMs: number): Promise<boolean> {
    return this.run(() => {
      if (!this.holds(endpoint, message)) return false;
      this.statements.release!.run(this.now() + delayMs, endpoint, message.orderKey);
      return true;
    });
  }

  depth(endpoint: string): Promise<number> {
    return this.run(() => this.sizeOf(endpoint));
  }

  close(): Promise<void> {
    if (this.db.open) this.db.close();
    return Promise.resolve();
  }

  private holds(endpoint: string, message: ClaimedWebhook): boolean {
    const row = this.statements.claimOf!.get(endpoint, message.orderKey) as
      { claim: string | null } | undefined;
    return row?.claim === message.claim;
  }

  private sizeOf(endpoint: string): number {
    let size = this.sizes.get(endpoint);
    if (size === undefined) {
      size = (this.statements.count!.get(endpoint) as { n: number }).n;
      this.sizes.set(endpoint, size);
    }
    return size;
  }

  /** One transaction; a failure (disk full, closed) rejects instead of throwing synchronously. */
  private run<T>(work: () => T): Promise<T> {
    try {
      return Promise.resolve(this.db.transaction(work)());
    } catch (error) {
      this.sizes.clear();
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }
}
