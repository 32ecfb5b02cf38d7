import { describe, expect, it } from 'vitest';
import { RedisClock } from '../../src/store/redis-clock.js';

/** Redis's TIME reply for `ms` milliseconds since the epoch. */
function time(ms: number): [string, string] {
  return [String(Math.floor(ms / 1000)), String(Math.round((ms % 1000) * 1000))];
}

describe('RedisClock', () => {
  const REDIS_START = 1_700_000_000_000;

  it('bounds the offset by the round trip and narrows it with later samples', () => {
    let local = 1000;
    const clock = new RedisClock(() => local);
    // Redis read its clock somewhere in the 10 ms round trip.
    expect(clock.sample(1000, 1010, ...time(REDIS_START + 5))).toBe(true);
    expect(clock.boundsAt(1010)).toEqual({ low: REDIS_START - 1005, high: REDIS_START - 995 });
    local = 1110;
    clock.sample(1108, 1110, ...time(REDIS_START + 108));
    const bounds = clock.boundsAt(1110);
    expect(bounds?.low).toBeCloseTo(REDIS_START - 1002, 1);
    expect(bounds?.high).toBeCloseTo(REDIS_START - 1000, 1);
  });

  it('answers "certainly past" only once the lowest possible Redis time is past the deadline', () => {
    let local = 0;
    const clock = new RedisClock(() => local);
    clock.sample(0, 20, ...time(REDIS_START + 10));
    const deadline = clock.deadlineAfter(500);
    expect(deadline).toBe(REDIS_START - 10 + 500);
    local = 499;
    expect(clock.untilCertainlyPast(deadline)).toBeGreaterThan(1);
    local = 502;
    expect(clock.untilCertainlyPast(deadline)).toBe(0);
  });

  it('widens its bounds with time (clock drift) and restarts from a sample that contradicts them', () => {
    let local = 0;
    const clock = new RedisClock(() => local);
    clock.sample(0, 2, ...time(REDIS_START + 1));
    const aged = clock.boundsAt(10_000);
    // Offsets are ~1.7e12 ms: doubles keep about a microsecond of them.
    expect(aged && aged.high - aged.low).toBeCloseTo(2 + 2 * 10, 1);
    // Redis's clock was stepped a minute ahead.
    local = 10_002;
    expect(clock.sample(10_000, 10_002, ...time(REDIS_START + 70_001))).toBe(false);
    const stepped = clock.boundsAt(10_002);
    expect(stepped?.low).toBeCloseTo(REDIS_START + 60_000 - 1, 1);
    expect(stepped?.high).toBeCloseTo(REDIS_START + 60_000 + 1, 1);
  });
});
