import { setImmediate } from 'node:timers';

/** Runs one batch of events, in order; resolves with one reply per event. */
export type RunAppendBatch<Event> = (events: readonly Event[]) => Promise<readonly unknown[]>;

export interface AppendBatchLimits {
  /** Events per script run. */
  readonly events: number;
  /** Characters per script run (as the caller sizes its events); a larger event runs alone. */
  readonly chars: number;
}

/**
 * Redis runs a script to the end before anything else, so one batch's length bounds how long it
 * holds up every other hub's commands.
 */
const DEFAULT_LIMITS: AppendBatchLimits = { events: 128, chars: 512 * 1024 };

interface Waiting<Event> {
  readonly event: Event;
  readonly chars: number;
  readonly resolve: (reply: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Gathers the appends made in one turn of the event loop (every publish read in one poll of the
 * sockets) and has Redis run them as one script: one command to encode, send and answer, and one
 * script call with its housekeeping, instead of one per event. Events keep their call order within
 * and across batches, because batches are sent in order on one connection. A batch that fails
 * fails every event in it with the same error.
 */
export class AppendBatches<Event> {
  private waiting: Waiting<Event>[] = [];
  private scheduled = false;

  constructor(
    private readonly runBatch: RunAppendBatch<Event>,
    private readonly limits: AppendBatchLimits = DEFAULT_LIMITS,
  ) {}

  /** Resolves with this event's reply from the script run that carried it. */
  add(event: Event, chars: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ event, chars, resolve, reject });
      if (this.scheduled) return;
      this.scheduled = true;
      // setImmediate, not a microtask: it runs after every socket read of this poll was handled.
      setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    this.scheduled = false;
    const waiting = this.waiting;
    this.waiting = [];
    let batch: Waiting<Event>[] = [];
    let chars = 0;
    for (const entry of waiting) {
      if (
        batch.length > 0 &&
        (batch.length >= this.limits.events || chars + entry.chars > this.limits.chars)
      ) {
        this.send(batch);
        batch = [];
        chars = 0;
      }
      batch.push(entry);
      chars += entry.chars;
    }
    if (batch.length > 0) this.send(batch);
  }

  private send(batch: readonly Waiting<Event>[]): void {
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
