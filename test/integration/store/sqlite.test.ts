import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { StoreOpenError } from '../../../src/store/errors.js';
import { DATABASE_FILE, SqliteStore, SqliteWebhookQueue } from '../../../src/store/sqlite/index.js';
import { WEBHOOK_QUEUE_FILE } from '../../../src/store/sqlite/webhook-queue.js';
import type { SqliteStoreOptions } from '../../../src/store/sqlite/index.js';
import type { HistoryPage, Store, StoredEvent } from '../../../src/store/types.js';
import { EARLIEST } from '../../../src/store/types.js';
import { TempDirs } from '../../helpers/data-dir.js';
import { eventually } from '../../helpers/wait.js';

const dirs = new TempDirs();
const open: SqliteStore[] = [];

function openStore(options: SqliteStoreOptions): SqliteStore {
  const store = SqliteStore.open(options);
  open.push(store);
  return store;
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((store) => store.close()));
  dirs.removeAll();
});

function publish(store: Store, count: number, topicOf = (n: number) => `urn:t:${n % 3}`) {
  return Promise.all(
    Array.from({ length: count }, (_, n) => store.append({ topics: [topicOf(n)], data: `e${n}` })),
  );
}

/** Every page after `after` until the end, as the hub reads them. */
async function readAll(
  store: Store,
  after: string,
  limit: number,
  topics?: string[],
): Promise<StoredEvent[]> {
  const events: StoredEvent[] = [];
  for (;;) {
    const page: HistoryPage = await store.readPage({ after, limit, topics });
    if (!page.ok) throw new Error(`page after ${after}: ${page.reason}`);
    expect(page.events.length).toBeLessThanOrEqual(limit);
    events.push(...page.events);
    if (page.end) return events;
    after = page.through;
  }
}

function fileHash(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

describe('SqliteStore', () => {
  it('creates its data directory and files readable by their owner only: they hold private updates', async () => {
    const dataDir = join(dirs.make('private'), 'data');
    const store = openStore({ dataDir });
    await store.append({ topics: ['urn:t:1'], data: 'secret', private: true });
    const queue = SqliteWebhookQueue.open({ dataDir });
    await queue.enqueue('backend', { id: 'msg_1', orderKey: 'urn:t:1', body: '{"data":"secret"}' });
    const files = [DATABASE_FILE, WEBHOOK_QUEUE_FILE].flatMap((name) =>
      ['', '-wal', '-shm', '-journal'].map((suffix) => join(dataDir, name + suffix)),
    );
    const present = files.filter((file) => existsSync(file));
    expect(present).toContain(join(dataDir, WEBHOOK_QUEUE_FILE));
    expect(present.map((file) => [file, statSync(file).mode & 0o077])).toEqual(
      present.map((file) => [file, 0]),
    );
    expect(statSync(dataDir).mode & 0o077).toBe(0);
    await queue.close();
  });

  it('keeps states, versions and idempotency keys across a restart (issue 17)', async () => {
    const dataDir = dirs.make();
    const first = openStore({ dataDir });
    const claim = { key: 'order-1', fingerprint: 'f1', windowMs: 60_000 };
    const paid = await first.append({ topics: ['urn:order:1'], data: 'paid', idempotency: claim });
    const state = await first.append({ topics: ['urn:price'], data: '5', keepsState: true, version: 5 });
    await first.close();
    const second = openStore({ dataDir });
    const retried = await second.append({ topics: ['urn:order:1'], data: 'paid', idempotency: claim });
    expect(retried.id).toBe(paid.id);
    await expect(
      second.append({ topics: ['urn:order:1'], data: 'x', idempotency: { ...claim, fingerprint: 'f2' } }),
    ).rejects.toMatchObject({ code: 'idempotency_key_reused' });
    expect((await second.readStates({})).states).toEqual([state]);
    await expect(
      second.append({ topics: ['urn:price'], data: '4', keepsState: true, version: 4 }),
    ).rejects.toMatchObject({ code: 'conflict' });
  });

  it('upgrades a schema 1 history in place, keeping its events', async () => {
    const dataDir = dirs.make();
    const first = openStore({ dataDir });
    const [old] = await publish(first, 1);
    await first.close();
    const db = new Database(join(dataDir, DATABASE_FILE));
    db.exec('DROP TABLE states; DROP TABLE idempotency; ALTER TABLE events DROP COLUMN ttl;');
    db.exec('ALTER TABLE events DROP COLUMN version; PRAGMA user_version = 1;');
    db.close();
    const second = openStore({ dataDir });
    expect(await readAll(second, EARLIEST, 10)).toEqual([old]);
    const stored = await second.append({ topics: ['urn:t'], data: 'new', ttlMs: 1000, keepsState: true });
    expect(stored.expiresAt).toBe(stored.time + 1000);
    expect((await second.readStates({})).states).toEqual([stored]);
  });

  it('resumes ids issued before a restart exactly, and continues their sequence', async () => {
    const dataDir = dirs.make();
    const first = openStore({ dataDir });
    const before = await publish(first, 5);
    await first.close();
    const second = openStore({ dataDir });
    const located = await second.locate((before[2] as StoredEvent).id);
    expect(located).toEqual({ ok: true, cursor: (before[2] as StoredEvent).cursor });
    const after = await second.append({ topics: ['urn:t:0'], data: 'after restart' });
    expect(second.compareCursors((before[4] as StoredEvent).cursor, after.cursor)).toBeLessThan(0);
    const replay = await readAll(second, (before[2] as StoredEvent).cursor, 2);
    expect(replay).toEqual([...before.slice(3), after]);
  });

  it('answers `unknown` for an id of another data directory', async () => {
    const one = openStore({ dataDir: dirs.make() });
    const other = openStore({ dataDir: dirs.make() });
    const [event] = await publish(one, 1);
    await publish(other, 3);
    expect(await other.locate((event as StoredEvent).id)).toEqual({ ok: false, reason: 'unknown' });
  });

  it('pages through the topic index: only the wanted topics, in order, no gap or duplicate', async () => {
    const store = openStore({ dataDir: dirs.make(), historySize: 100_000 });
    const events = await publish(store, 3000, (n) => `urn:t:${n % 10}`);
    const wanted = events.filter((e) => e.topics[0] === 'urn:t:3' || e.topics[0] === 'urn:t:7');
    expect(await readAll(store, EARLIEST, 37, ['urn:t:3', 'urn:t:7'])).toEqual(wanted);
    expect(await readAll(store, EARLIEST, 250)).toEqual(events);
    const page = await store.readPage({
      after: (events[10] as StoredEvent).cursor,
      limit: 5,
      topics: ['urn:t:3'],
    });
    expect(page).toEqual({
      ok: true,
      events: wanted
        .filter((e) => e.topics[0] === 'urn:t:3')
        .filter((e) => store.compareCursors(e.cursor, (events[10] as StoredEvent).cursor) > 0)
        .slice(0, 5),
      through: (events[53] as StoredEvent).cursor,
      end: false,
    });
    const last = await store.readPage({
      after: (events[2990] as StoredEvent).cursor,
      limit: 50,
      topics: ['urn:t:3'],
    });
    expect(last).toEqual({
      ok: true,
      events: [events[2993]],
      through: (events[2999] as StoredEvent).cursor,
      end: true,
    });
  });

  it('commits concurrent appends together (group commit) and delivers them live in order after commit', async () => {
    const store = openStore({ dataDir: dirs.make() });
    const live: string[] = [];
    store.onEvent((event) => live.push(event.id));
    const commitsBefore = store.commits;
    const events = await publish(store, 500);
    expect(store.commits - commitsBefore).toBe(1);
    expect(live).toEqual(events.map((e) => e.id));
  });

  it('retains by count exactly, and deletes the rows in the background so the file stops growing', async () => {
    const dataDir = dirs.make();
    const store = openStore({ dataDir, historySize: 100 });
    const events: StoredEvent[] = [];
    for (let round = 0; round < 20; round++) events.push(...(await publish(store, 250)));
    expect(await store.locate((events[4898] as StoredEvent).id)).toEqual({ ok: false, reason: 'expired' });
    expect((await store.locate((events[4899] as StoredEvent).id)).ok).toBe(true);
    expect(await readAll(store, EARLIEST, 64)).toEqual(events.slice(-100));
    await store.close();
    const reader = new Database(join(dataDir, DATABASE_FILE), { readonly: true });
    try {
      expect(
        (reader.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n,
      ).toBeLessThanOrEqual(1100);
    } finally {
      reader.close();
    }
  });

  it('expires by age without new appends', async () => {
    let now = 1_000_000;
    const store = openStore({ dataDir: dirs.make(), maxAgeMs: 1000, now: () => now });
    const old = await publish(store, 3);
    now += 600;
    const young = await publish(store, 2);
    now += 500;
    expect(await store.locate((old[0] as StoredEvent).id)).toEqual({ ok: false, reason: 'expired' });
    expect(await store.locate((old[2] as StoredEvent).id)).toEqual({
      ok: true,
      cursor: (old[2] as StoredEvent).cursor,
    });
    expect(await readAll(store, EARLIEST, 10)).toEqual(young);
  });

  it('per-topic limit: a reader of a trimmed topic is told it expired, readers of other topics are not', async () => {
    const store = openStore({ dataDir: dirs.make(), historyPerTopic: 3 });
    const [start] = await publish(store, 1, () => 'urn:quiet');
    const busy = await publish(store, 10, () => 'urn:busy');
    const quiet = await publish(store, 2, () => 'urn:quiet');
    const from = (start as StoredEvent).cursor;
    await eventually(
      async () => {
        const page = await store.readPage({ after: from, limit: 100, topics: ['urn:busy'] });
        return !page.ok;
      },
      5000,
      'per-topic trim',
    );
    expect(await store.readPage({ after: from, limit: 100, topics: ['urn:busy'] })).toEqual({
      ok: false,
      reason: 'expired',
    });
    expect(await readAll(store, from, 100, ['urn:quiet'])).toEqual(quiet);
    expect(await readAll(store, (busy[6] as StoredEvent).cursor, 100, ['urn:busy'])).toEqual(busy.slice(7));
  });

  it('refuses a foreign SQLite file and a file that is not SQLite, and changes neither', () => {
    for (const make of [
      (file: string) => {
        const db = new Database(file);
        db.exec('CREATE TABLE invoices (id INTEGER PRIMARY KEY)');
        db.close();
      },
      (file: string) => writeFileSync(file, 'these are not the bytes you are looking for'.repeat(200)),
    ]) {
      const dataDir = dirs.make();
      const file = join(dataDir, DATABASE_FILE);
      make(file);
      const hash = fileHash(file);
      expect(() => openStore({ dataDir })).toThrow(StoreOpenError);
      expect(() => openStore({ dataDir })).toThrow(/another program|corrupt or not an ssehub database/);
      expect(fileHash(file)).toBe(hash);
    }
  });

  it('refuses a data directory that another open store holds', () => {
    const dataDir = dirs.make();
    openStore({ dataDir });
    expect(() => openStore({ dataDir })).toThrow(/in use by another running hub/);
  });
});
