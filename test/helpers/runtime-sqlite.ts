// Opens the SQLite store on the runtime running this file and prints `opened`, or the one line
// of its StoreOpenError: on Bun and Deno, whose runtimes cannot load better-sqlite3's native module.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite/index.js';

const dataDir = mkdtempSync(join(tmpdir(), 'ssehub-runtime-sqlite-'));
try {
  SqliteStore.open({ dataDir });
  console.log('opened');
} catch (error) {
  console.log(`refused: ${(error as Error).name}: ${(error as Error).message}`);
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
