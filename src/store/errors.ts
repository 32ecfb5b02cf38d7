import { SsehubError } from '../errors.js';

/**
 * The store could not take or read events right now (connection lost, timeout). The event was not
 * stored, will not be, and may be published again (a store raises it for an append only once that
 * holds; see RedisStore.append). The HTTP layer answers 503 with `Retry-After`.
 */
export class StoreUnavailableError extends SsehubError {
  readonly code = 'store_unavailable';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}

/**
 * The store refuses this append as given, and stored nothing: `invalid_input` for an id the store
 * reserves, `conflict` for a supplied id already used by a different retained event or a stale state
 * version, `idempotency_key_reused` for an idempotency key already used for a different request.
 */
export class StoreInputError extends SsehubError {
  constructor(
    message: string,
    readonly code: 'invalid_input' | 'conflict' | 'idempotency_key_reused',
  ) {
    super(message);
    this.name = 'StoreInputError';
  }
}

/**
 * The store cannot be opened as configured: its data directory is not writable, its file is corrupt,
 * belongs to another program or is in use by another running hub. Nothing was changed on disk. The
 * standalone hub exits with status 2 and the message as its one line.
 */
export class StoreOpenError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreOpenError';
  }
}
