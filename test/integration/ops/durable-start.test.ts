import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { TempDirs } from '../../helpers/data-dir.js';
import { HubProcess, runHubCli } from '../../helpers/hub-process.js';
import { Tmpfs } from '../../helpers/tmpfs.js';
import { publish } from '../../helpers/stream-reader.js';

/** The standalone hub on the sqlite store refuses bad data directories with exit 2 and one line. */

const dirs = new TempDirs();
const hubs: HubProcess[] = [];
const mounts: Tmpfs[] = [];
const canMount = Tmpfs.available();

afterEach(async () => {
  await Promise.all(hubs.splice(0).map((hub) => hub.kill('SIGKILL')));
  for (const mount of mounts.splice(0)) mount.unmount();
});
afterAll(() => dirs.removeAll());

function sqliteArgs(dataDir: string): string[] {
  return ['--store', 'sqlite', '--data-dir', dataDir, '--port', '0'];
}

function hashOf(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** Exit status 2 and exactly one line on stderr matching `reason`. */
async function expectRefusal(args: string[], reason: RegExp): Promise<void> {
  const result = await runHubCli(args);
  expect(result.code, result.stderr).toBe(2);
  const lines = result.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^ssehub: /);
  expect(lines[0]).toMatch(reason);
  expect(result.stdout).not.toMatch(/listening/);
}

describe('the sqlite store on a bad data directory: exit 2 and one line at start, 503 when running', () => {
  it('a data directory that is not writable', async () => {
    let dataDir: string;
    if (canMount) {
      const readOnly = Tmpfs.mount({ sizeBytes: 1 << 20, readOnly: true });
      mounts.push(readOnly);
      dataDir = readOnly.path;
    } else {
      dataDir = dirs.make('readonly');
      chmodSync(dataDir, 0o500);
    }
    await expectRefusal(sqliteArgs(dataDir), /not writable|read-only/i);
  });

  it('a file that is not SQLite, left unchanged', async () => {
    const dataDir = dirs.make();
    const file = join(dataDir, 'events.sqlite');
    writeFileSync(file, Buffer.alloc(8192, 'garbage!'));
    const before = hashOf(file);
    await expectRefusal(sqliteArgs(dataDir), /corrupt or not an ssehub database/);
    expect(hashOf(file)).toBe(before);
  });

  it("another program's SQLite database, left unchanged", async () => {
    const dataDir = dirs.make();
    const file = join(dataDir, 'events.sqlite');
    const foreign = new Database(file);
    foreign.exec('CREATE TABLE accounts (id INTEGER PRIMARY KEY); INSERT INTO accounts VALUES (1);');
    foreign.close();
    const before = hashOf(file);
    await expectRefusal(sqliteArgs(dataDir), /another program/);
    expect(hashOf(file)).toBe(before);
  });

  it('a data directory a running hub holds: the second hub refuses, the first keeps serving', async () => {
    const dataDir = dirs.make();
    const first = await HubProcess.start(['--store', 'sqlite', '--data-dir', dataDir]);
    hubs.push(first);
    await expectRefusal(sqliteArgs(dataDir), /in use by another running hub/);
    expect((await publish(first.url, 'urn:still', 'serving')).status).toBe(200);
  });

  it.skipIf(!canMount)('a full disk at start', async () => {
    const full = Tmpfs.mount({ sizeBytes: 64 * 1024 });
    mounts.push(full);
    writeFileSync(join(full.path, 'filler'), Buffer.alloc(0));
    // Fill it to the last byte the file system will take.
    try {
      for (;;) writeFileSync(join(full.path, 'filler'), Buffer.alloc(4096), { flag: 'a' });
    } catch {
      // ENOSPC: full
    }
    await expectRefusal(sqliteArgs(full.path), /disk is full|full/i);
  });

  it.skipIf(!canMount)(
    'a disk that fills up while running: publishes get 503, every 2xx event is kept, and no refused one',
    async () => {
      const small = Tmpfs.mount({ sizeBytes: 1 << 20 });
      mounts.push(small);
      const hub = await HubProcess.start([
        '--store',
        'sqlite',
        '--data-dir',
        small.path,
        '--publish-rate',
        '0',
      ]);
      hubs.push(hub);
      const accepted: string[] = [];
      let refused: { status: number; body: string } | undefined;
      const payload = 'x'.repeat(16 * 1024);
      for (let n = 0; n < 1000 && !refused; n++) {
        const answer = await publish(hub.url, 'urn:fill', `${n} ${payload}`);
        if (answer.status === 200) accepted.push(answer.body);
        else refused = answer;
      }
      expect(refused?.status).toBe(503);
      expect(refused?.body).toMatch(/full/i);
      expect(accepted.length).toBeGreaterThan(0);
      // The history holds exactly the accepted events: read back a copy (with its write-ahead log;
      // the full disk has no room for what SQLite writes when it opens a file).
      await hub.kill('SIGTERM');
      const copy = dirs.make('copy');
      for (const name of readdirSync(small.path)) copyFileSync(join(small.path, name), join(copy, name));
      const reader = new Database(join(copy, 'events.sqlite'), { readonly: true });
      try {
        const count = (reader.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
        expect(count).toBe(accepted.length);
      } finally {
        reader.close();
      }
    },
  );
});
