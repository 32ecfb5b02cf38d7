/**
 * The messages the tabs of one share group exchange over their BroadcastChannel, and the name of the
 * group (which is also the name of the Web Lock its leader holds). Messages are structured clones:
 * plain data only.
 */
import type { ResetNotice, StateChange } from './types.js';

export type ShareMessage =
  /** A tab is in the group with these selectors; sent when it arrives and on a roll call. */
  | { readonly kind: 'join'; readonly tab: string; readonly topics: readonly string[] }
  /** A tab left (closed, or its page was hidden for good). */
  | { readonly kind: 'leave'; readonly tab: string }
  /** A new leader asks every tab to say `join` again, so its union misses nobody. */
  | { readonly kind: 'roll-call' }
  /**
   * One event of the leader's stream. `to` lists the tabs it is for (absent: every tab). Every tab
   * moves its copy of the group's cursor to `id`, whether or not the event is for it.
   */
  | {
      readonly kind: 'event';
      readonly type: string;
      readonly data: string;
      readonly id: string;
      /** The event carried no id of its own (`id` is the one before): never a duplicate, no move. */
      readonly repeatsId?: true;
      readonly to?: readonly string[];
    }
  /** The stream's position moved without an event (a stream's opening `id:` block). */
  | { readonly kind: 'cursor'; readonly id: string; readonly to?: string }
  /** The leader's connection changed state; `to` targets one tab (a newcomer learning the state). */
  | {
      readonly kind: 'state';
      readonly change: StateChange;
      readonly reconnects: number;
      readonly to?: string;
    }
  | { readonly kind: 'reset'; readonly notice: ResetNotice }
  /** A tab asks the leader to reconnect now (its `reconnect()`). */
  | { readonly kind: 'reconnect' };

/** What makes streams interchangeable: their group, hub URL, rights, and topics unless filtered. */
export interface ShareGroupKey {
  readonly group: string;
  /** The hub URL without topics. */
  readonly hub: string;
  readonly credentials: string;
  readonly rights: string;
  /** Sorted selectors when events cannot be filtered per tab, else `null` (any selectors share). */
  readonly topics: readonly string[] | null;
}

export function shareGroupName(key: ShareGroupKey): string {
  return `ssehub:share:${JSON.stringify(key)}`;
}

interface LockManagerLike {
  request(name: string, options: { signal?: AbortSignal }, callback: () => Promise<void>): Promise<void>;
}

/** The Web Locks API and BroadcastChannel, when this environment has both; sharing needs both. */
export interface ShareEnvironment {
  readonly locks: LockManagerLike;
  readonly openChannel: (name: string) => BroadcastChannel;
}

export function shareEnvironment(): ShareEnvironment | undefined {
  const scope = globalThis as { navigator?: { locks?: Partial<LockManagerLike> } };
  const locks = scope.navigator?.locks;
  if (typeof locks?.request !== 'function' || typeof globalThis.BroadcastChannel !== 'function') {
    return undefined;
  }
  return {
    locks: locks as LockManagerLike,
    openChannel: (name) => new BroadcastChannel(name),
  };
}
