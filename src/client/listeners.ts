import type { ClientEvent, ResetNotice, StateChange } from './types.js';

/**
 * The listeners of one client: per event type, any event, state changes and reset notices. A
 * throwing listener never stops the others, nor the stream: its error is reported as uncaught.
 */
export class ClientListeners {
  private readonly byType = new Map<string, Set<(event: ClientEvent) => void>>();
  private readonly any = new Set<(event: ClientEvent) => void>();
  private readonly states = new Set<(change: StateChange) => void>();
  private readonly resets = new Set<(notice: ResetNotice) => void>();

  on(type: string, listener: (event: ClientEvent) => void): () => void {
    let set = this.byType.get(type);
    if (!set) this.byType.set(type, (set = new Set()));
    set.add(listener);
    return () => this.off(type, listener);
  }

  off(type: string, listener: (event: ClientEvent) => void): void {
    const set = this.byType.get(type);
    set?.delete(listener);
    if (set?.size === 0) this.byType.delete(type);
  }

  onAny(listener: (event: ClientEvent) => void): () => void {
    this.any.add(listener);
    return () => this.any.delete(listener);
  }

  onState(listener: (change: StateChange) => void): () => void {
    this.states.add(listener);
    return () => this.states.delete(listener);
  }

  onReset(listener: (notice: ResetNotice) => void): () => void {
    this.resets.add(listener);
    return () => this.resets.delete(listener);
  }

  emitEvent(event: ClientEvent): void {
    for (const listener of [...(this.byType.get(event.type) ?? [])]) callSafely(listener, event);
    for (const listener of [...this.any]) callSafely(listener, event);
  }

  emitState(change: StateChange): void {
    for (const listener of [...this.states]) callSafely(listener, change);
  }

  emitReset(notice: ResetNotice): void {
    for (const listener of [...this.resets]) callSafely(listener, notice);
  }
}

/** A client event for the data of one server event; `id` is the stream's last event id. */
export function clientEvent(type: string, data: string, id: string): ClientEvent {
  return { type, data, id, json: <T>() => JSON.parse(data) as T };
}

/** A throwing listener must not break the stream; its error is reported like an uncaught one. */
export function callSafely<T>(listener: (value: T) => void, value: T): void {
  try {
    listener(value);
  } catch (error) {
    const report = (globalThis as { reportError?: (error: unknown) => void }).reportError;
    if (typeof report === 'function') report(error);
    else
      queueMicrotask(() => {
        throw error;
      });
  }
}

/** What every client offers to listen with, delegated to its ClientListeners. */
export abstract class ListenableClient {
  protected readonly listeners = new ClientListeners();

  on(type: string, listener: (event: ClientEvent) => void): () => void {
    return this.listeners.on(type, listener);
  }

  off(type: string, listener: (event: ClientEvent) => void): void {
    this.listeners.off(type, listener);
  }

  onAny(listener: (event: ClientEvent) => void): () => void {
    return this.listeners.onAny(listener);
  }

  onState(listener: (change: StateChange) => void): () => void {
    return this.listeners.onState(listener);
  }

  onReset(listener: (notice: ResetNotice) => void): () => void {
    return this.listeners.onReset(listener);
  }
}
