import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { TempDirs } from '../helpers/data-dir.js';
import { HubProcess } from '../helpers/hub-process.js';
import { RawSubscriber } from '../helpers/raw-subscriber.js';
import { publishOnce } from '../helpers/resilient-publisher.js';
import { fuzzSeeds, randomInt, seededRandom } from '../helpers/random.js';

/**
 * The sqlite store's durability promise, with real crashes: a hub publishing under load is killed
 * with SIGKILL at random moments, several times. Every publish that was answered 2xx must be kept
 * and replayed once, in order, to a subscriber resuming from before the first crash; no refused
 * publish may appear.
 */

const dirs = new TempDirs();
const hubs: HubProcess[] = [];
const subscribers: RawSubscriber[] = [];
afterEach(async () => {
  for (const subscriber of subscribers.splice(0)) subscriber.stop();
  await Promise.all(hubs.splice(0).map((hub) => hub.kill('SIGKILL')));
});
afterAll(() => dirs.removeAll());

const TOPIC = 'urn:crash';
const PUBLISHERS = 8;
const CRASHES = 4;

interface Ledger {
  /** data → id, for publishes answered 2xx. */
  accepted: Map<string, string>;
  refused: Set<string>;
  /** Sent, but the connection died before an answer: may or may not be stored. */
  unknown: Set<string>;
}

/** One publisher: publishes `name-0`, `name-1`, … one at a time until `stop()` says so. */
async function publisher(port: number, name: string, ledger: Ledger, stop: () => boolean, from: number) {
  let n = from;
  while (!stop()) {
    const data = `${name}-${n++}`;
    const outcome = await publishOnce(port, TOPIC, data);
    if (outcome.kind === 'accepted') ledger.accepted.set(data, outcome.id);
    else if (outcome.kind === 'refused') ledger.refused.add(data);
    else ledger.unknown.add(data);
    if (outcome.kind !== 'accepted') return n; // the hub is gone: this round is over
  }
  return n;
}

describe('sqlite store: SIGKILL under publishing load', () => {
  for (const seed of fuzzSeeds(1)) {
    it(`keeps every acknowledged publish, once and in order, across ${CRASHES} crashes (seed ${seed})`, async () => {
      const random = seededRandom(seed);
      const dataDir = dirs.make('crash');
      const hub = await HubProcess.start(['--store', 'sqlite', '--data-dir', dataDir, '--publish-rate', '0']);
      hubs.push(hub);
      const anchor = await publishOnce(hub.port, TOPIC, 'anchor');
      if (anchor.kind !== 'accepted') throw new Error('the anchor publish failed');
      const ledger: Ledger = { accepted: new Map(), refused: new Set(), unknown: new Set() };
      const next = new Array<number>(PUBLISHERS).fill(0);
      for (let crash = 0; crash < CRASHES; crash++) {
        let killed = false;
        const running = next.map((from, p) => publisher(hub.port, `p${p}`, ledger, () => killed, from));
        await new Promise((resolve) => setTimeout(resolve, randomInt(random, 150, 700)));
        await hub.kill('SIGKILL');
        killed = true;
        (await Promise.all(running)).forEach((n, p) => (next[p] = n));
        await hub.restart();
      }
      const final = await publishOnce(hub.port, TOPIC, 'final');
      if (final.kind !== 'accepted') throw new Error('the final publish failed');
      expect(ledger.accepted.size).toBeGreaterThan(100);

      const subscriber = new RawSubscriber(hub.port, TOPIC, { lastEventId: anchor.id });
      subscribers.push(subscriber);
      await subscriber.start();
      await subscriber.waitFor((events) => events.some((e) => e.data === 'final'), 20_000);
      const replayed = subscriber.events.slice(0, -1);
      expect(subscriber.resets).toEqual([]);

      // Exactly once: no duplicate, and every acknowledged publish with the id it was given.
      expect(new Set(replayed.map((e) => e.data)).size).toBe(replayed.length);
      const byData = new Map(replayed.map((e) => [e.data, e.id]));
      const missing = [...ledger.accepted].filter(([data, id]) => byData.get(data) !== id);
      expect(missing).toEqual([]);
      // Nothing refused appears; anything else is an acknowledged or an unanswered publish.
      for (const { data } of replayed) {
        expect(ledger.refused.has(data)).toBe(false);
        expect(ledger.accepted.has(data) || ledger.unknown.has(data)).toBe(true);
      }
      // In order: each publisher's events in the order it published them.
      for (let p = 0; p < PUBLISHERS; p++) {
        const numbers = replayed
          .filter((e) => e.data.startsWith(`p${p}-`))
          .map((e) => Number(e.data.slice(e.data.indexOf('-') + 1)));
        expect(numbers).toEqual([...numbers].sort((a, b) => a - b));
      }
    }, 120_000);
  }
});
