import { describe, expect, it } from 'vitest';
import { SequenceQueue } from '../../src/store/sequence-queue.js';

describe("SequenceQueue (a topic's kept sequences in the memory store)", () => {
  it('hands sequences back first in, first out, across its compactions', () => {
    const queue = new SequenceQueue();
    expect(queue.peek()).toBeUndefined();
    expect(queue.shift()).toBeUndefined();
    const out: number[] = [];
    // Interleaved like a retained count of 3000: enough shifts to compact several times.
    for (let seq = 1; seq <= 10_000; seq++) {
      queue.push(seq);
      if (queue.length > 3000) out.push(queue.shift() as number);
    }
    expect(queue.length).toBe(3000);
    expect(queue.peek()).toBe(7001);
    expect(out).toEqual(Array.from({ length: 7000 }, (_, i) => i + 1));
    while (queue.length > 0) out.push(queue.shift() as number);
    expect(out).toEqual(Array.from({ length: 10_000 }, (_, i) => i + 1));
    expect(queue.peek()).toBeUndefined();
    queue.push(42);
    expect([queue.length, queue.peek()]).toEqual([1, 42]);
  });
});
