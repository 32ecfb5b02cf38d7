import type { Clock } from '../../src/client/index.js';

interface Task {
  at: number;
  order: number;
  callback: () => void;
}

/**
 * A hand-driven clock for the client's timers: nothing fires until `advance` moves time, and
 * between timers the real event loop gets a turn so promise chains (fetch, reads) settle.
 */
export class FakeClock implements Clock {
  private current = 1_000_000;
  private order = 0;
  private readonly tasks = new Set<Task>();

  now(): number {
    return this.current;
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const task = { at: this.current + Math.max(0, ms), order: this.order++, callback };
    this.tasks.add(task);
    return task;
  }

  clearTimeout(handle: unknown): void {
    this.tasks.delete(handle as Task);
  }

  /** Pending timers, soonest first, as delays from now. */
  pending(): number[] {
    return [...this.tasks].map((task) => task.at - this.current).sort((a, b) => a - b);
  }

  async advance(ms: number): Promise<void> {
    const target = this.current + ms;
    await settle();
    for (;;) {
      const next = [...this.tasks]
        .filter((task) => task.at <= target)
        .sort((a, b) => a.at - b.at || a.order - b.order)[0];
      if (!next) break;
      this.tasks.delete(next);
      this.current = next.at;
      next.callback();
      await settle();
    }
    this.current = target;
    await settle();
  }
}

/** Lets pending promise callbacks and I/O callbacks run. */
export async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
}
