import { afterEach, describe, expect, it } from 'vitest';
import { FlushPacer } from '../../src/hub/flush-pacer.js';
import { Hub } from '../../src/hub/hub.js';
import { MemorySink, nextTick } from '../helpers/memory-sink.js';
import { eventually } from '../helpers/wait.js';

/** Keeps the CPU busy for `ms`, as thousands of socket writes would. */
function busyFor(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('FlushPacer', () => {
  it('runs a quick flush in the next turn of the event loop', async () => {
    let runs = 0;
    const pacer = new FlushPacer(() => runs++);
    for (let i = 0; i < 3; i++) {
      pacer.schedule();
      await nextTick();
      expect(runs).toBe(i + 1);
    }
  });

  /** A pacer whose first flush (run at once) took `ms`; `runs()` counts its flushes. */
  async function afterLongFlush(ms: number): Promise<{ pacer: FlushPacer; runs: () => number }> {
    let runs = 0;
    const pacer = new FlushPacer(() => {
      runs++;
      if (runs === 1) busyFor(ms);
    });
    pacer.schedule();
    await nextTick();
    expect(runs).toBe(1);
    return { pacer, runs: () => runs };
  }

  it('after a long flush, waits as long as it took before the next one', async () => {
    const { pacer, runs } = await afterLongFlush(40);
    pacer.schedule();
    await nextTick();
    await sleep(10);
    expect(runs()).toBe(1);
    await eventually(() => runs() === 2, 1000);
    // That flush was quick: the next is in the next turn again.
    pacer.schedule();
    await nextTick();
    expect(runs()).toBe(3);
  });

  it('does not hold back a flush due after a quiet spell at least as long as the last flush', async () => {
    const { pacer, runs } = await afterLongFlush(40);
    await sleep(60);
    pacer.schedule();
    await nextTick();
    expect(runs()).toBe(2);
  });

  it('holds a flush back at most 100 ms, however long the last one took', async () => {
    const { pacer, runs } = await afterLongFlush(250);
    const scheduledAt = performance.now();
    pacer.schedule();
    await eventually(() => runs() === 2, 1000);
    expect(performance.now() - scheduledAt).toBeLessThan(200);
  });
});

describe('fan-out when writing is slow', () => {
  let hub: Hub | undefined;
  afterEach(async () => {
    await hub?.close();
  });

  /** A sink whose every write takes `ms`: one batch per uncorked write or per cork…uncork. */
  class SlowSink extends MemorySink {
    batches = 0;
    private corked = false;
    constructor(private readonly ms: number) {
      super();
    }
    override write(chunk: Buffer): void {
      super.write(chunk);
      if (!this.corked) this.batch();
    }
    override cork(): void {
      super.cork();
      this.corked = true;
    }
    override uncork(): void {
      this.corked = false;
      this.batch();
    }
    private batch(): void {
      this.batches++;
      busyFor(this.ms);
    }
  }

  /**
   * Six events published one per turn of the event loop (each alone would be its own flush) to a
   * subscriber whose writes take `writeMs`; `afterEach` runs after each publish's turn.
   */
  async function publishSix(writeMs: number, afterEach: (sink: SlowSink, n: number) => void = () => {}) {
    hub = new Hub();
    const sink = new SlowSink(writeMs);
    await hub.subscribe({ topics: ['t'], sink });
    await nextTick();
    const batchesBefore = sink.batches;
    for (let n = 1; n <= 6; n++) {
      await hub.publish({ topics: ['t'], data: String(n) });
      await nextTick();
      afterEach(sink, n);
    }
    await eventually(() => sink.events.length === 6, 2000);
    return { data: sink.events.map((event) => event.data), batches: sink.batches - batchesBefore };
  }

  it('sends the events published during a long flush together, in order, in fewer writes', async () => {
    const { data, batches } = await publishSix(20);
    expect(data).toEqual(['1', '2', '3', '4', '5', '6']);
    expect(batches).toBeLessThan(6);
  });

  it('writes each event at once when writing is quick', async () => {
    const { data, batches } = await publishSix(0, (sink, n) => expect(sink.events.length).toBe(n));
    expect(data).toEqual(['1', '2', '3', '4', '5', '6']);
    expect(batches).toBe(6);
  });
});
