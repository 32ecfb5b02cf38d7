import { MemoryStore } from '../../../src/store/memory.js';
import type { StoredEvent } from '../../../src/store/types.js';
import { describeStoreContract } from '../../helpers/store-contract.js';

describeStoreContract({
  name: 'MemoryStore',
  create: (options) => Promise.resolve(new MemoryStore(options)),
  idNewerThan: (newest: StoredEvent) => {
    const dash = newest.cursor.lastIndexOf('-');
    return `${newest.cursor.slice(0, dash)}-${Number(newest.cursor.slice(dash + 1)) + 1000}`;
  },
});
