/**
 * The store could not take or read events right now (connection lost, timeout). The HTTP layer
 * answers 503 with `Retry-After`: the event was not stored and may be published again.
 */
export class StoreUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}
