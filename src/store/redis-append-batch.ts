import { setImmediate } from 'node:timers';

/** Runs one batch of events, in order; resolves with one reply per event. */
export type RunAppendBatch<Event> = (events: readonly Event[]) => Promise<readonly unknown[]>;

export interface AppendBatchLimits {
  /** A batch goes out as soon as it holds this many events. */
  readonly events: number;
  /**
   * ... or this many characters (as the caller sizes its events); an event larger than this goes
   * out alone.
   */
  readonly chars: number;
}

/**
 * Small enough that Redis runs one batch while the hub reads the next publishes (a batch of the
 * whole turn made the two wait for each other: 64 publishers got about 30,000/s, batches of 24 got
 * 44,000/s), large enough that a script call and its housekeeping serve many events. The size
 * limit bounds how long one script holds up every other hub's commands.
 */
const DEFAULT_LIMITS: AppendBatchLimits = { events: 24, chars: 512 * 1024 };

interface Waiting<Event> {
  readonly event: Event;
  readonly resolve: (reply: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Gathers appends into batches that Redis runs as one script each: one command to encode, send and
 * answer, and one script call with its housekeeping, instead of one per event. A batch goes out as
 * soon as it is full, and at the end of the turn of the event loop (after every socket read of that
 * poll was handled) with what is left. Events keep their call order within and across batches,
 * because batches are sent in order on one connection. A batch that fails fails every event in it
 * with the same error.
 */
export class AppendBatches<Event> {
  private waiting: Waiting<Event>[] = [];
  private waitingChars = 0;
  private scheduled = false;

  constructor(
    private readonly runBatch: RunAppendBatch<Event>,
    private readonly limits: AppendBatchLimits = DEFAULT_LIMITS,
  ) {}

  /** Resolves with this event's reply from the script run that carried it. */
  add(event: Event, chars: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (this.waiting.length > 0 && this.waitingChars + chars > this.limits.chars) this.send();
      this.waiting.push({ event, resolve, reject });
      this.waitingChars += chars;
      if (this.waiting.length >= this.limits.events || this.waitingChars >= this.limits.chars) {
        return this.send();
      }
      if (this.scheduled) return;
      this.scheduled = true;
      // setImmediate, not a microtask: it runs after every socket read of this poll was handled.
      setImmediate(() => {
        this.scheduled = false;
        if (this.waiting.length > 0) this.send();
      });
    });
  }

  private send(): void {
    const batch = this.waiting;
    this.waiting = [];
    this.waitingChars = 0;
    this.runBatch(batch.map((entry) => entry.event)).then(
      (replies) => {
        batch.forEach((entry, index) => entry.resolve(replies[index]));
      },
      (error: unknown) => {
        for (const entry of batch) entry.reject(error);
      },
    );
  }
}
