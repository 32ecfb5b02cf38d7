/**
 * The open-rate token bucket on a hand-driven time and chance source: what it admits, and how it
 * spreads the Retry-After of the clients it refuses.
 */
import { describe, expect, it } from 'vitest';
import {
  AdmissionRefusal,
  MAX_STREAM_OPEN_RETRY_AFTER_SECONDS,
  StreamOpenRate,
} from '../../src/http/admission.js';
import type { RateSource } from '../../src/http/admission.js';

/** Time moved by hand; chance from a fixed cycle of values, so results are reproducible. */
function handSource(randoms: number[] = [0.5]): RateSource & { advance(ms: number): void } {
  let now = 0;
  let drawn = 0;
  return {
    now: () => now,
    random: () => randoms[drawn++ % randoms.length]!,
    advance: (ms) => (now += ms),
  };
}

function admittedOf(rate: StreamOpenRate, tries: number): { admitted: number; waits: number[] } {
  let admitted = 0;
  const waits: number[] = [];
  for (let i = 0; i < tries; i++) {
    const taken = rate.take();
    if (taken.admitted) admitted++;
    else waits.push(taken.retryAfterSeconds);
  }
  return { admitted, waits };
}

describe('StreamOpenRate', () => {
  it('admits the burst at once, then the rate as time passes, and never saves more than the burst', () => {
    const source = handSource();
    const rate = new StreamOpenRate(10, 25, source);
    expect(admittedOf(rate, 40).admitted).toBe(25);
    source.advance(500);
    expect(admittedOf(rate, 40).admitted).toBe(5);
    source.advance(60_000);
    expect(admittedOf(rate, 100).admitted).toBe(25);
  });

  it('a burst of 0 or none means one second of the rate', () => {
    expect(admittedOf(new StreamOpenRate(7, undefined, handSource()), 20).admitted).toBe(7);
    expect(admittedOf(new StreamOpenRate(7, 0, handSource()), 20).admitted).toBe(7);
  });

  it('spreads a storm of refusals over the seconds it takes to admit them, about the rate per second', () => {
    // Chance spread evenly over [0, 1), as from a uniform source.
    const randoms = Array.from({ length: 97 }, (_, i) => ((i * 37) % 97) / 97);
    const rate = new StreamOpenRate(100, 100, handSource(randoms));
    const { admitted, waits } = admittedOf(rate, 1100);
    expect(admitted).toBe(100);
    expect(waits).toHaveLength(1000);
    const perSecond = new Map<number, number>();
    for (const wait of waits) perSecond.set(wait, (perSecond.get(wait) ?? 0) + 1);
    // 1000 refused at rate 100: back over about 10 s, none at once.
    expect(Math.min(...waits)).toBe(1);
    expect(Math.max(...waits)).toBe(11);
    for (const [second, count] of perSecond) {
      // A uniform source, drawn 1000 times, is not exactly even: a few percent either way.
      expect(count, `returns told to come back after ${second} s`).toBeLessThanOrEqual(105);
    }
    expect(perSecond.size).toBe(11);
  });

  it('the schedule drains as time passes: a client refused later is not sent behind the old storm', () => {
    const source = handSource([0]);
    const rate = new StreamOpenRate(10, 10, source);
    const first = admittedOf(rate, 60).waits;
    expect(Math.max(...first)).toBe(5);
    source.advance(10_000); // the storm's slots are past, and the bucket is full again
    const later = admittedOf(rate, 11).waits;
    expect(later).toEqual([1]);
  });

  it('a flood cannot push a wait past the cap: past it, waits are uniform over the whole window', () => {
    const randoms = [0, 0.25, 0.5, 0.999];
    const rate = new StreamOpenRate(2, 1, handSource(randoms));
    const { waits } = admittedOf(rate, 1000);
    const max = MAX_STREAM_OPEN_RETRY_AFTER_SECONDS;
    expect(Math.max(...waits)).toBe(max);
    expect(waits.every((wait) => wait >= 1 && wait <= max)).toBe(true);
    // Once the window is full, each refusal draws from all of it, not from its end.
    expect(waits.slice(-4).sort((a, b) => a - b)).toEqual([
      1,
      1 + Math.floor(0.25 * max),
      1 + Math.floor(0.5 * max),
      max,
    ]);
  });

  it('check() throws the 503 with the wait, a one-line reason and Connection: close', () => {
    const rate = new StreamOpenRate(1, 1, handSource([0]));
    rate.check();
    let refusal: unknown;
    try {
      rate.check();
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(AdmissionRefusal);
    const answer = refusal as AdmissionRefusal;
    expect(answer.refusal).toBe('rate');
    expect(answer.status).toBe(503);
    expect(answer.headers).toEqual({ 'Retry-After': '1', Connection: 'close' });
    expect(answer.message).toBe('Too many new streams: the hub opens at most 1 a second; retry in 1 s.');
  });

  it('refuses a rate that is not a positive number', () => {
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => new StreamOpenRate(bad, undefined)).toThrow('maxStreamOpensPerSecond must be > 0');
    }
  });
});
