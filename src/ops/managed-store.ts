import { StoreInputError, StoreUnavailableError } from '../store/errors.js';
import type {
  EventInput,
  HistoryPage,
  LatestPage,
  LatestRequest,
  LiveListener,
  PageRequest,
  ResumePoint,
  StateRequest,
  StateSnapshot,
  Store,
  StoredEvent,
} from '../store/types.js';

export const STORE_OPERATIONS = ['append', 'locate', 'readPage', 'readLatest', 'readStates', 'head'] as const;
export type StoreOperation = (typeof STORE_OPERATIONS)[number];

/**
 * The server's view of its store: reports each failed operation (for the store-errors metric), and
 * once shutdown has ended the streams refuses appends, so no publish is acknowledged that no
 * subscriber of this instance would see.
 */
export class ManagedStore implements Store {
  private refusal: string | undefined;
  /** Present exactly when the inner store reads backwards (the hub falls back otherwise). */
  readonly readLatest?: (request: LatestRequest) => Promise<LatestPage>;

  constructor(
    readonly inner: Store,
    private readonly onError: (operation: StoreOperation, error: unknown) => void,
  ) {
    const readLatest = inner.readLatest?.bind(inner);
    if (readLatest !== undefined) {
      this.readLatest = (request) => this.measure('readLatest', () => readLatest(request));
    }
  }

  get kind(): string {
    return this.inner.kind;
  }

  /** From now on appends fail with a 503-mapped error carrying `reason`. */
  refuseAppends(reason: string): void {
    this.refusal = reason;
  }

  append(input: EventInput): Promise<StoredEvent> {
    if (this.refusal !== undefined) return Promise.reject(new StoreUnavailableError(this.refusal));
    return this.measure('append', () => this.inner.append(input));
  }

  locate(lastEventId: string): Promise<ResumePoint> {
    return this.measure('locate', () => this.inner.locate(lastEventId));
  }

  readPage(request: PageRequest): Promise<HistoryPage> {
    return this.measure('readPage', () => this.inner.readPage(request));
  }

  readStates(request: StateRequest): Promise<StateSnapshot> {
    return this.measure('readStates', () => this.inner.readStates(request));
  }

  head(): Promise<string> {
    return this.measure('head', () => this.inner.head());
  }

  onEvent(listener: LiveListener): () => void {
    return this.inner.onEvent(listener);
  }

  onFeedGap(listener: () => void): () => void {
    return this.inner.onFeedGap(listener);
  }

  compareCursors(a: string, b: string): number {
    return this.inner.compareCursors(a, b);
  }

  isReady(): boolean {
    return this.inner.isReady();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private async measure<T>(operation: StoreOperation, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      // A refused id is the publisher's mistake, not a store failure.
      if (!(error instanceof StoreInputError)) this.onError(operation, error);
      throw error;
    }
  }
}
