import { StoreInputError } from './errors.js';
import type { EventInput, StoredEvent } from './types.js';

/** Rules every store applies to state versions and idempotency keys (see EventInput). */

/** Refuses a state whose version is not newer than the kept one's (`conflict`: stale, nothing stored). */
export function checkStateVersion(input: EventInput, kept: StoredEvent | undefined): void {
  if (input.version === undefined || kept?.version === undefined || input.version > kept.version) return;
  throw new StoreInputError(
    `Stale state: version ${input.version} is not newer than the stored version ${kept.version}.`,
    'conflict',
  );
}

/** The answer to an idempotency key reused for a different request. */
export function idempotencyMismatch(): StoreInputError {
  return new StoreInputError(
    'This Idempotency-Key was already used for a different request; use a new key for a new publish.',
    'idempotency_key_reused',
  );
}

/** What a read returns of an event its topic's retained count no longer holds. */
export function retiredStub(event: StoredEvent): StoredEvent {
  return {
    id: event.id,
    cursor: event.cursor,
    topics: event.topics,
    data: '',
    private: event.private,
    time: event.time,
    retired: true,
  };
}
