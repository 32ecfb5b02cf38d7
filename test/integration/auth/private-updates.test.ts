import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStream, publish, startTestHub, topicUrl } from '../../helpers/hub.js';
import type { RawStream, TestHub } from '../../helpers/hub.js';
import { fuzzSeeds, randomInt, seededRandom } from '../../helpers/random.js';
import { HS_SECRET, bearer, hmacKey, mint, publisherClaims } from '../../helpers/tokens.js';

/**
 * Private updates never reach a subscriber whose `mercure.subscribe` selectors match none of the
 * update's topics (canonical or alternate), checked event by event over many random updates, live
 * and on replay. The expectation is computed here with an independent matcher.
 */
const BASE = 'https://example.com/t/';
const TOPICS = Array.from({ length: 6 }, (_, i) => `${BASE}${i}`);
const TEMPLATE = `${BASE}{n}`;

function matches(selector: string, topic: string): boolean {
  if (selector === '*') return true;
  if (selector === TEMPLATE) return topic.startsWith(BASE) && !topic.slice(BASE.length).includes('/');
  return selector === topic;
}

interface Profile {
  name: string;
  subscribeTo: string[];
  /** `mercure.subscribe`; undefined: no claim; null: no token at all (anonymous). */
  rights: string[] | undefined | null;
  via?: 'cookie' | 'query';
}

const PROFILES: Profile[] = [
  { name: 'anonymous', subscribeTo: ['*'], rights: null },
  { name: 'token without subscribe claim', subscribeTo: ['*'], rights: undefined },
  { name: 'empty rights', subscribeTo: ['*'], rights: [] },
  { name: 'rights t/0, reading everything', subscribeTo: ['*'], rights: [TOPICS[0] as string] },
  {
    name: 'rights t/1 t/2, reading t/1 t/3',
    subscribeTo: [TOPICS[1] as string, TOPICS[3] as string],
    rights: [TOPICS[1] as string, TOPICS[2] as string],
  },
  { name: 'template rights, reading t/4', subscribeTo: [TOPICS[4] as string], rights: [TEMPLATE] },
  { name: '* rights, reading by template', subscribeTo: [TEMPLATE], rights: ['*'] },
  {
    name: 'rights t/5 by cookie, reading t/5 t/0',
    subscribeTo: [TOPICS[5] as string, TOPICS[0] as string],
    rights: [TOPICS[5] as string],
    via: 'cookie',
  },
  {
    name: 'rights t/2 by query, reading everything',
    subscribeTo: ['*'],
    rights: [TOPICS[2] as string],
    via: 'query',
  },
];

interface Published {
  id: string;
  topics: string[];
  private: boolean;
}

function expectedFor(profile: Profile, events: readonly Published[]): string[] {
  const rights = profile.rights ?? [];
  return events
    .filter((event) =>
      event.topics.some((topic) => profile.subscribeTo.some((selector) => matches(selector, topic))),
    )
    .filter(
      (event) =>
        !event.private || event.topics.some((topic) => rights.some((selector) => matches(selector, topic))),
    )
    .map((event) => event.id);
}

const key = hmacKey();
let hub: TestHub;
beforeAll(async () => {
  hub = await startTestHub({
    config: { jwtKey: HS_SECRET, allowAnonymous: true, demo: false, publishRatePerSecond: 0 },
  });
});
afterAll(async () => {
  await hub?.close();
});

async function connect(profile: Profile, lastEventId?: string): Promise<RawStream> {
  const headers: Record<string, string> = lastEventId ? { 'Last-Event-ID': lastEventId } : {};
  const query: Record<string, string> = {};
  if (profile.rights !== null) {
    const claims =
      profile.rights === undefined
        ? { sub: profile.name }
        : { sub: profile.name, mercure: { subscribe: profile.rights } };
    const token = await mint(key, claims, { expiresIn: 3600 });
    if (profile.via === 'cookie') headers.Cookie = `mercureAuthorization=${token}`;
    else if (profile.via === 'query') query.authorization = token;
    else Object.assign(headers, bearer(token));
  }
  const stream = await openStream(topicUrl(hub.hubUrl, profile.subscribeTo, query), headers);
  expect(stream.response.statusCode, profile.name).toBe(200);
  return stream;
}

describe('private updates reach only authorized subscribers', () => {
  for (const seed of fuzzSeeds(1)) {
    it(`checks ${PROFILES.length} subscribers against 400 random updates, live and replayed (seed ${seed})`, async () => {
      const random = seededRandom(seed);
      const streams = await Promise.all(PROFILES.map((profile) => connect(profile)));
      const publisher = bearer(await mint(key, publisherClaims('*')));
      const events: Published[] = [];
      for (let i = 0; i < 400; i++) {
        const count = randomInt(random, 1, 3);
        const topics = [
          ...new Set(
            Array.from({ length: count }, () => TOPICS[randomInt(random, 0, TOPICS.length - 1)] as string),
          ),
        ];
        const isPrivate = random() < 0.5;
        const answer = await publish(
          hub.hubUrl,
          { topic: topics, data: `event ${i}`, ...(isPrivate ? { private: 'on' } : {}) },
          publisher,
        );
        expect(answer.status).toBe(200);
        events.push({ id: answer.body, topics, private: isPrivate });
      }
      // A public update on every topic marks the end: order is kept, so nothing can follow it.
      const marker = await publish(hub.hubUrl, { topic: TOPICS, data: 'end' }, publisher);
      const privateCount = events.filter((event) => event.private).length;
      expect(privateCount).toBeGreaterThan(100);

      const check = async (profile: Profile, stream: RawStream, phase: string) => {
        await stream.waitFor(
          () => stream.events.some((event) => event.lastEventId === marker.body),
          10_000,
          `${profile.name} ${phase} marker`,
        );
        const received = stream.events.map((event) => event.lastEventId).filter((id) => id !== marker.body);
        expect(received, `${profile.name} (${phase})`).toEqual(expectedFor(profile, events));
        stream.destroy();
      };
      await Promise.all(PROFILES.map((profile, i) => check(profile, streams[i] as RawStream, 'live')));

      // Replay applies the same rights: each profile resumes from the very beginning.
      const replays = await Promise.all(PROFILES.map((profile) => connect(profile, 'earliest')));
      await Promise.all(PROFILES.map((profile, i) => check(profile, replays[i] as RawStream, 'replay')));

      // The rights matter: at least one profile saw private updates and at least one was denied some.
      const seen = PROFILES.map(
        (profile) =>
          expectedFor(
            profile,
            events.filter((event) => event.private),
          ).length,
      );
      expect(Math.max(...seen)).toBeGreaterThan(0);
      expect(Math.min(...seen)).toBe(0);
    });
  }
});
