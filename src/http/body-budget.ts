import { DEFAULT_BODY_BUDGET_BYTES } from '../defaults.js';
import { HttpError } from './errors.js';

/**
 * The bytes of request bodies the hub holds at once, across all requests: each body reserves its
 * size (its `Content-Length` up front, or as its chunks arrive) and gives it back when its request
 * ends, however it ends. Past the budget a request is refused with 503, so many slow or large
 * bodies cannot add up to more memory than this, whatever `maxBodyBytes` allows one of them.
 */
export class BodyBudget {
  private held = 0;
  private readonly retryAfter: string;

  /** `maxBytes` 0: unlimited (bytes are still counted). */
  constructor(
    readonly maxBytes: number = DEFAULT_BODY_BUDGET_BYTES,
    retryAfterSeconds = 1,
  ) {
    this.retryAfter = String(retryAfterSeconds);
  }

  /** Bytes reserved by bodies being read or still held by their request. */
  get heldBytes(): number {
    return this.held;
  }

  /** A reservation for one request's body; it starts empty. */
  open(): BodyReservation {
    return new BodyReservation(this);
  }

  /** @internal Adds `bytes` to the total, or throws a 503 and adds nothing. */
  take(bytes: number): void {
    if (this.maxBytes > 0 && this.held + bytes > this.maxBytes) {
      throw new HttpError(
        503,
        `Too many request bodies in flight: the hub holds at most ${this.maxBytes} bytes of them; retry later.`,
        { 'Retry-After': this.retryAfter, Connection: 'close' },
      );
    }
    this.held += bytes;
  }

  /** @internal */
  give(bytes: number): void {
    this.held -= bytes;
  }
}

/** One request's share of a BodyBudget. */
export class BodyReservation {
  private bytes = 0;
  private released = false;

  constructor(private readonly budget: BodyBudget) {}

  /** Grows the reservation to at least `total` bytes; throws a 503 when the budget cannot. */
  reserveUpTo(total: number): void {
    if (this.released || total <= this.bytes) return;
    this.budget.take(total - this.bytes);
    this.bytes = total;
  }

  /** Gives every reserved byte back; later calls do nothing. */
  readonly release = (): void => {
    if (this.released) return;
    this.released = true;
    this.budget.give(this.bytes);
    this.bytes = 0;
  };
}
