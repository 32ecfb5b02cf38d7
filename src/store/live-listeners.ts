import type { LiveListener, StoredEvent } from './types.js';

/**
 * A store's live listeners. A stored event reaches every listener: one that throws is reported
 * and neither hides the event from the others nor fails the append that stored it.
 */
export class LiveListeners {
  private readonly listeners = new Set<LiveListener>();

  constructor(private readonly warn: (message: string) => void) {}

  /** Adds a listener; returns a function that removes it. */
  add(listener: LiveListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  deliver(event: StoredEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.warn(`a live listener threw: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }

  clear(): void {
    this.listeners.clear();
  }
}
