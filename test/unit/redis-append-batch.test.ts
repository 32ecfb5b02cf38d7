import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { AppendBatches } from '../../src/store/redis-append-batch.js';

/** A runner that records each batch and answers every event with its own name. */
function recordingRunner(fail?: (batch: readonly string[]) => boolean) {
  const batches: string[][] = [];
  const run = (events: readonly string[]): Promise<readonly unknown[]> => {
    batches.push([...events]);
    if (fail?.(events)) return Promise.reject(new Error(`batch ${batches.length} failed`));
    return Promise.resolve(events.map((event) => `reply ${event}`));
  };
  return { batches, run };
}

describe('AppendBatches', () => {
  it('runs the appends of one turn as one batch, in call order, each answered with its own reply', async () => {
    const runner = recordingRunner();
    const batches = new AppendBatches(runner.run);
    const replies = await Promise.all(['a', 'b', 'c'].map((event) => batches.add(event, 1)));
    expect(runner.batches).toEqual([['a', 'b', 'c']]);
    expect(replies).toEqual(['reply a', 'reply b', 'reply c']);
  });

  it('gathers appends made from separate callbacks of the same turn, not those of the next', async () => {
    const runner = recordingRunner();
    const batches = new AppendBatches(runner.run);
    const done: Promise<unknown>[] = [];
    // Two socket reads of one poll phase are two callbacks; the batch waits for both.
    await new Promise<void>((resolve) => {
      setTimeout(() => done.push(batches.add('first read', 1)));
      setTimeout(() => {
        done.push(batches.add('second read', 1));
        resolve();
      });
    });
    await nextTurn();
    done.push(batches.add('next turn', 1));
    await Promise.all(done);
    expect(runner.batches).toEqual([['first read', 'second read'], ['next turn']]);
  });

  it('splits a turn into batches of at most the event limit and the size limit, keeping the order', async () => {
    const runner = recordingRunner();
    const batches = new AppendBatches(runner.run, { events: 3, chars: 10 });
    const sized: [string, number][] = [
      ['a', 1],
      ['b', 1],
      ['c', 1],
      ['d', 1],
      ['e', 6],
      ['f', 4],
      ['huge', 50],
      ['g', 1],
    ];
    await Promise.all(sized.map(([event, chars]) => batches.add(event, chars)));
    // 'huge' is larger than the limit on its own: it runs alone rather than never.
    expect(runner.batches).toEqual([['a', 'b', 'c'], ['d', 'e'], ['f'], ['huge'], ['g']]);
  });

  it('sends a batch as soon as it is full, before the turn ends', async () => {
    const runner = recordingRunner();
    const batches = new AppendBatches(runner.run, { events: 2, chars: 100 });
    const done = [batches.add('a', 1), batches.add('b', 1)];
    // Sent from inside the second add: Redis runs it while the hub goes on reading publishes.
    expect(runner.batches).toEqual([['a', 'b']]);
    done.push(batches.add('c', 1));
    expect(runner.batches).toEqual([['a', 'b']]);
    await Promise.all(done);
    expect(runner.batches).toEqual([['a', 'b'], ['c']]);
  });

  it('fails every event of a failed batch with its error, and only those', async () => {
    const runner = recordingRunner((batch) => batch.includes('b'));
    const batches = new AppendBatches(runner.run, { events: 2, chars: 100 });
    const outcomes = await Promise.allSettled(['a', 'b', 'c'].map((event) => batches.add(event, 1)));
    expect(outcomes).toEqual([
      { status: 'rejected', reason: new Error('batch 1 failed') },
      { status: 'rejected', reason: new Error('batch 1 failed') },
      { status: 'fulfilled', value: 'reply c' },
    ]);
  });
});
