/** What readiness depends on; `reason` is the one line a probe (and a person) reads. */
export interface Readiness {
  ready: boolean;
  reason: string;
}

export interface ReadinessSources {
  storeKind: string;
  storeReady(): boolean;
  draining(): boolean;
}

/** Ready when the store can take appends and the hub is not shutting down. */
export function readiness(sources: ReadinessSources): Readiness {
  if (sources.draining())
    return { ready: false, reason: 'not ready: shutting down, reconnect to another instance' };
  if (!sources.storeReady())
    return { ready: false, reason: `not ready: ${sources.storeKind} store unreachable` };
  return { ready: true, reason: `ready: ${sources.storeKind} store reachable` };
}
