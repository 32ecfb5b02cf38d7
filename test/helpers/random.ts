/**
 * Seeded randomness for fuzz-style tests: every run prints nothing extra, but a failure names its
 * seed, and `SSEHUB_FUZZ_SEED=<n>` replays exactly that run.
 */

export type Random = () => number;

/** mulberry32: tiny, fast, and good enough to spread chunk boundaries and payload characters. */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The seeds a fuzz test runs with: the one from the environment, or `count` fixed ones. */
export function fuzzSeeds(count: number, base = 20261129): number[] {
  const fromEnv = process.env.SSEHUB_FUZZ_SEED;
  if (fromEnv !== undefined && fromEnv !== '') return [Number.parseInt(fromEnv, 10)];
  return Array.from({ length: count }, (_, i) => base + i * 7919);
}

export function randomInt(random: Random, min: number, maxInclusive: number): number {
  return min + Math.floor(random() * (maxInclusive - min + 1));
}

/** Cuts `bytes` at random places (possibly inside a multi-byte character or a CRLF). */
export function randomSplit(bytes: Uint8Array, random: Random, maxPieces = 12): Uint8Array[] {
  if (bytes.length === 0) return [bytes];
  const cuts = new Set<number>();
  const wanted = randomInt(random, 0, Math.min(maxPieces - 1, bytes.length - 1));
  while (cuts.size < wanted) cuts.add(randomInt(random, 1, bytes.length - 1));
  const sorted = [...cuts].sort((a, b) => a - b);
  const pieces: Uint8Array[] = [];
  let start = 0;
  for (const cut of sorted) {
    pieces.push(bytes.subarray(start, cut));
    start = cut;
  }
  pieces.push(bytes.subarray(start));
  return pieces;
}

export function byteByByte(bytes: Uint8Array): Uint8Array[] {
  return Array.from(bytes, (_, i) => bytes.subarray(i, i + 1));
}
