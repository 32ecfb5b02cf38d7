import { StoreInputError } from './errors.js';
import type { EventInput, StoredEvent } from './types.js';
import { EARLIEST } from './types.js';

/**
 * Rules every store applies to publisher-supplied ids, so that a resume always lands on the event
 * the client saw: a supplied id may not look like an id the store generates (it would shadow one)
 * and may not be reused for a different event while the first is retained.
 */

/** Refuses `earliest` and ids of the store's own generated shape (`generatedShape` names it). */
export function checkSuppliedId(
  id: string | undefined,
  isGeneratedShape: (id: string) => boolean,
  generatedShape: string,
): void {
  if (id === undefined) return;
  if (id === EARLIEST)
    throw new StoreInputError('"id" "earliest" is reserved for a full replay.', 'invalid_input');
  if (isGeneratedShape(id)) {
    throw new StoreInputError(
      `"id" ${JSON.stringify(id)} has the shape of this hub's own ids (${generatedShape}); choose another.`,
      'invalid_input',
    );
  }
}

/** Whether a publish repeats a retained event exactly (same id, topics, data, type, retry, private). */
export function isSamePublish(input: EventInput, event: StoredEvent): boolean {
  return (
    input.id === event.id &&
    input.data === event.data &&
    input.type === event.type &&
    input.retry === event.retry &&
    (input.private ?? false) === event.private &&
    input.topics.length === event.topics.length &&
    input.topics.every((topic, i) => topic === event.topics[i])
  );
}

/** The retained event when the publish repeats it (idempotent retry); otherwise a conflict. */
export function repeatedOrConflict(input: EventInput, retained: StoredEvent): StoredEvent {
  if (retained.retired === true) {
    // Its data is dropped, so a repeat cannot be told from another event; the id stays a resume point.
    throw new StoreInputError(
      `"id" ${JSON.stringify(input.id)} belongs to an event its topic no longer retains (retainCount); use a new id.`,
      'conflict',
    );
  }
  if (isSamePublish(input, retained)) return retained;
  throw new StoreInputError(
    `"id" ${JSON.stringify(retained.id)} is already used by a different retained event.`,
    'conflict',
  );
}
