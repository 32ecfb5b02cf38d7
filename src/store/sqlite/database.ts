import { randomBytes } from 'node:crypto';
import { accessSync, closeSync, constants, mkdirSync, openSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { Database as Connection } from 'better-sqlite3';
import { StoreOpenError } from '../errors.js';

/** `PRAGMA application_id` of an ssehub history file ("SSEH"), so a foreign SQLite file is recognised. */
export const APPLICATION_ID = 0x53534548;
/** `PRAGMA user_version`: the schema this code writes and reads (older ones are upgraded). */
export const SCHEMA_VERSION = 2;
export const DATABASE_FILE = 'events.sqlite';

/**
 * How far a commit is synced before the publish is answered:
 * - `full`: the write-ahead log is fsynced on every commit; an answered publish survives a power loss.
 * - `normal`: it survives a crash of the hub process, but the last commits before an OS crash or
 *   power loss may be lost.
 */
export type SyncLevel = 'full' | 'normal';
export const SYNC_LEVELS: readonly SyncLevel[] = ['full', 'normal'];

const SCHEMA = `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
  CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    supplied_id TEXT,
    time INTEGER NOT NULL,
    topics TEXT NOT NULL,
    data TEXT NOT NULL,
    type TEXT,
    retry INTEGER,
    private INTEGER NOT NULL
  );
  CREATE INDEX events_by_supplied_id ON events (supplied_id) WHERE supplied_id IS NOT NULL;
  CREATE TABLE event_topics (seq INTEGER NOT NULL, topic TEXT NOT NULL, PRIMARY KEY (seq, topic)) WITHOUT ROWID;
  CREATE INDEX event_topics_by_topic ON event_topics (topic, seq);
  CREATE TABLE topic_trims (topic TEXT PRIMARY KEY, through INTEGER NOT NULL) WITHOUT ROWID;
`;

/**
 * Schema 2 (issue 17): an event's TTL and state version; each state topic's latest event, kept
 * whole (as JSON) since retention may delete its row; idempotency records, with the event they
 * answer, forgotten after `until`.
 */
const SCHEMA_2 = `
  ALTER TABLE events ADD COLUMN ttl INTEGER;
  ALTER TABLE events ADD COLUMN version REAL;
  CREATE TABLE states (topic TEXT PRIMARY KEY, seq INTEGER NOT NULL, event TEXT NOT NULL) WITHOUT ROWID;
  CREATE TABLE idempotency (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    until INTEGER NOT NULL,
    event TEXT NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX idempotency_by_until ON idempotency (until);
`;

export interface OpenedDatabase {
  readonly db: Connection;
  readonly file: string;
  /** Unique to this data directory: part of every generated id, so ids from elsewhere are unknown. */
  readonly epoch: string;
}

/**
 * Opens (or creates) the history file in `dataDir` and takes an exclusive lock on it for the life of
 * the connection, so a second hub on the same directory is refused. Throws StoreOpenError, with one
 * line saying what is wrong, and never writes to a file it did not recognise as its own.
 */
export function openDatabase(dataDir: string, sync: SyncLevel): OpenedDatabase {
  const dir = resolve(dataDir);
  prepareDirectory(dir);
  const file = join(dir, DATABASE_FILE);
  let db: Connection;
  const runtime = nonNodeRuntime();
  try {
    createPrivateFile(file);
    db = new Database(file);
  } catch (error) {
    if (runtime !== undefined) {
      throw new StoreOpenError(
        `cannot open ${file}: the SQLite store needs Node.js (better-sqlite3's native module does not load on ${runtime}); use the memory or Redis store there`,
        { cause: error },
      );
    }
    throw openError(file, error);
  }
  try {
    // Before the first access: the lock taken then is held until close, and no shared-memory
    // index is used, so no other process can read or write the file meanwhile.
    db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('busy_timeout = 0');
    checkOwnership(db, file);
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${sync === 'full' ? 'FULL' : 'NORMAL'}`);
    const epoch = db.transaction(() => initialise(db))();
    return { db, file, epoch };
  } catch (error) {
    db.close();
    throw error instanceof StoreOpenError ? error : openError(file, error);
  }
}

/**
 * Creates `file` readable and writable by its owner only, unless it exists. SQLite gives its
 * write-ahead log and journal the database file's permissions, so they follow.
 */
export function createPrivateFile(file: string): void {
  closeSync(openSync(file, constants.O_CREAT | constants.O_WRONLY, 0o600));
}

function prepareDirectory(dir: string): void {
  try {
    // Only its owner may read it: the history holds private updates (and the webhook queue their bodies).
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new StoreOpenError(`cannot create data directory ${dir}: ${describe(error)}`, { cause: error });
  }
  if (!statSync(dir).isDirectory()) throw new StoreOpenError(`data directory ${dir} is not a directory`);
  try {
    accessSync(dir, constants.W_OK);
  } catch (error) {
    throw new StoreOpenError(`data directory ${dir} is not writable: ${describe(error)}`, { cause: error });
  }
}

/** Refuses a file that is not an ssehub history (another program's database, or not SQLite at all). */
function checkOwnership(db: Connection, file: string): void {
  const applicationId = db.pragma('application_id', { simple: true }) as number;
  const version = db.pragma('user_version', { simple: true }) as number;
  const objects = (db.prepare('SELECT count(*) AS n FROM sqlite_master').get() as { n: number }).n;
  if (applicationId === 0 && objects === 0) return; // new, empty: ours to create
  if (applicationId !== APPLICATION_ID) {
    throw new StoreOpenError(`${file} is an SQLite database of another program; refusing to use it`);
  }
  if (version > SCHEMA_VERSION) {
    throw new StoreOpenError(`${file} was written by a newer ssehub (schema ${version}); refusing to use it`);
  }
}

/** Creates the schema in a new file; in every case writes, so the exclusive lock is taken now. */
function initialise(db: Connection): string {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version === 0) {
    db.exec(SCHEMA);
    db.pragma(`application_id = ${APPLICATION_ID}`);
    const epoch = randomBytes(6).toString('hex');
    db.prepare("INSERT INTO meta (key, value) VALUES ('epoch', ?)").run(epoch);
  }
  if (version < 2) db.exec(SCHEMA_2);
  if (version < SCHEMA_VERSION) db.pragma(`user_version = ${SCHEMA_VERSION}`);
  db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('opened_at', ?)").run(String(Date.now()));
  const row = db.prepare("SELECT value FROM meta WHERE key = 'epoch'").get() as { value: string } | undefined;
  if (!row || !/^[0-9a-f]{12}$/.test(row.value)) throw new Error('the meta table has no valid epoch');
  return row.value;
}

/** Bun or Deno, which load the package but not better-sqlite3's native module; undefined on Node. */
function nonNodeRuntime(): 'Bun' | 'Deno' | undefined {
  if ('Bun' in globalThis) return 'Bun';
  if ('Deno' in globalThis) return 'Deno';
  return undefined;
}

function openError(file: string, error: unknown): StoreOpenError {
  const code = (error as { code?: string }).code ?? '';
  const reason =
    code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED'
      ? 'it is in use by another running hub (one data directory serves one hub; share history through Redis)'
      : code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT'
        ? 'it is corrupt or not an ssehub database; refusing to use it (it was not changed)'
        : code === 'SQLITE_FULL'
          ? 'the disk is full'
          : describe(error);
  return new StoreOpenError(`cannot open ${file}: ${reason}`, { cause: error });
}

function describe(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  const message = error instanceof Error ? error.message : String(error);
  return code && !message.includes(code) ? `${code}: ${message}` : message;
}
