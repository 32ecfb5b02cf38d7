import { afterAll } from 'vitest';
import { SqliteStore } from '../../../src/store/sqlite/index.js';
import type { StoredEvent } from '../../../src/store/types.js';
import { TempDirs } from '../../helpers/data-dir.js';
import { describeStoreContract } from '../../helpers/store-contract.js';

const dirs = new TempDirs();
afterAll(() => dirs.removeAll());

describeStoreContract({
  name: 'SqliteStore',
  create: (options) => Promise.resolve(SqliteStore.open({ dataDir: dirs.make('contract'), ...options })),
  idNewerThan: (newest: StoredEvent) => {
    const dash = newest.cursor.lastIndexOf('-');
    return `${newest.cursor.slice(0, dash)}-${Number(newest.cursor.slice(dash + 1)) + 1000}`;
  },
});
