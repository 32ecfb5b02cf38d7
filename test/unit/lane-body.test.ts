import { describe, expect, it } from 'vitest';
import { BodyBudget } from '../../src/http/body-budget.js';
import { LaneBody } from '../../src/server/lane-publishes.js';

describe('LaneBody: a publish body the stream lane read whole', () => {
  it('runs every callback given to onAnswered once, when answered, and none before', () => {
    const body = new LaneBody(Buffer.from('topic=t'));
    const calls: string[] = [];
    body.onAnswered(() => calls.push('first'));
    body.onAnswered(() => calls.push('second'));
    expect(calls).toEqual([]);
    body.answered();
    body.answered();
    expect(calls).toEqual(['first', 'second']);
  });

  it('refuses a body over the limit with 413, and one over the hub-wide budget with 503', async () => {
    const bytes = Buffer.from('x'.repeat(200));
    await expect(new LaneBody(bytes).read({ maxBytes: 100 })).rejects.toMatchObject({ status: 413 });
    const reservation = new BodyBudget(100).open();
    await expect(new LaneBody(bytes).read({ maxBytes: 1000, reservation })).rejects.toMatchObject({
      status: 503,
    });
    await expect(new LaneBody(bytes).read({ maxBytes: 1000 })).resolves.toBe(bytes);
  });
});
