import { isRevocationSink } from '../http/authorizer.js';
import type { RevocationSink } from '../http/authorizer.js';
import { CONTROL_TOPIC, controlCommandOf } from '../hub/control.js';
import { retainedEvents } from '../store/history.js';
import type { Store, StoredEvent } from '../store/types.js';

export interface RevocationHook {
  /** Settles once the cut-offs retained in the store are learned: listening waits for it. */
  readonly learned: Promise<void>;
  /** Stops listening to the store's live feed. */
  detach(): void;
}

const NO_HOOK: RevocationHook = { learned: Promise.resolve(), detach: () => undefined };

/**
 * Feeds every subject cut-off (a disconnect command on the control topic) to an authorizer that can
 * revoke tokens, so that it refuses the subject's older ones. Every hub sharing the store hears a
 * cut-off on its live feed; a hub that starts after one (a deploy, one more instance) learns it from
 * the retained history first, so that no revoked token slips in meanwhile. An authorizer without
 * the ability gets no hook.
 */
export function attachRevocationHook(
  store: Store,
  authorizer: unknown,
  onError: (error: unknown) => void,
): RevocationHook {
  if (!isRevocationSink(authorizer)) return NO_HOOK;
  const revokeOn = (event: StoredEvent): void => revoke(authorizer, event);
  const detach = store.onEvent(revokeOn);
  const learned = learnRevocations(store, revokeOn).catch((error: unknown) => onError(error));
  return { learned, detach };
}

function revoke(sink: RevocationSink, event: StoredEvent): void {
  const command = controlCommandOf(event);
  if (command?.action === 'disconnect') sink.revokeSubject(command.subject, event.time);
}

/** Replays the retained cut-off commands (only the control topic's events, where a store indexes). */
async function learnRevocations(store: Store, revokeOn: (event: StoredEvent) => void): Promise<void> {
  for await (const event of retainedEvents(store, { topics: [CONTROL_TOPIC] })) revokeOn(event);
}
