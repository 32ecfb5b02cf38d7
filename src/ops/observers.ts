import type { HubObserver } from '../hub/hub.js';

type Hook = keyof HubObserver;
/** A record, not a list, so that the compiler insists on every hook the hub has. */
const HOOK_SET: Record<Hook, true> = {
  published: true,
  publishFailed: true,
  delivered: true,
  replayed: true,
  resetSent: true,
  subscribed: true,
  unsubscribed: true,
  heartbeats: true,
  replayFailed: true,
};
const HOOKS = Object.keys(HOOK_SET) as Hook[];

/**
 * One observer calling several (metrics, logs, status). A failing observer is reported to
 * `onError` and never reaches the hub: observers must not break delivery.
 */
export function combineObservers(
  observers: readonly (HubObserver | undefined)[],
  onError: (error: unknown) => void = () => undefined,
): HubObserver {
  const present = observers.filter((o): o is HubObserver => o !== undefined);
  const combined: Record<string, (...args: unknown[]) => void> = {};
  for (const hook of HOOKS) {
    const targets = present.filter((o) => typeof o[hook] === 'function');
    if (targets.length === 0) continue;
    combined[hook] = (...args: unknown[]) => {
      for (const target of targets) {
        try {
          (target[hook] as (...a: unknown[]) => void).apply(target, args);
        } catch (error) {
          onError(error);
        }
      }
    };
  }
  return combined as HubObserver;
}
