/** A flush this long means writing has become most of what the event loop does (ms). */
const BUSY_FLUSH_MS = 10;
/** The longest a flush is held back, whatever the last one took (ms). */
const MAX_FLUSH_DELAY_MS = 100;

/**
 * When the hub writes what it has queued for its subscribers. Normally in the next turn of the event
 * loop: what was queued in this one goes out in one write per socket. But once a flush takes long
 * (thousands of subscribers, each write a system call), flushing back to back would leave the loop
 * little else to do: a steady fan-out alone can then saturate the hub, and accepting connections
 * (a reconnect storm's) and reading publishes wait behind it. So a flush of `d` ms is followed by
 * `d` ms (at most 100) without one: the loop spends at most about half its time writing, and the
 * events published meanwhile go out together, one write per socket for several events (what a
 * store's live feed gives when it delivers in batches). A flush due after a quiet spell, or after a
 * quick flush, is not delayed at all.
 */
export class FlushPacer {
  /** The earliest the next flush may start (`performance.now()` ms); 0: at once. */
  private nextAllowedAt = 0;
  private readonly run = (): void => {
    const started = performance.now();
    this.flush();
    const ended = performance.now();
    const took = ended - started;
    this.nextAllowedAt = took < BUSY_FLUSH_MS ? 0 : ended + Math.min(took, MAX_FLUSH_DELAY_MS);
  };

  constructor(private readonly flush: () => void) {}

  /** Runs the flush once: in the next turn, or once the rest after a long flush is over. */
  schedule(): void {
    const wait = this.nextAllowedAt === 0 ? 0 : this.nextAllowedAt - performance.now();
    if (wait <= 0) setImmediate(this.run);
    else setTimeout(this.run, Math.ceil(wait));
  }
}
