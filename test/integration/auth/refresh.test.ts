import { afterEach, describe, expect, it } from 'vitest';
import { openStream, publish, startTestHub, topicUrl } from '../../helpers/hub.js';
import type { TestHub } from '../../helpers/hub.js';
import { expectRefused, trySubscribe } from '../../helpers/auth-answers.js';
import { HS_SECRET, bearer, hmacKey, mint, publisherClaims, subscriberClaims } from '../../helpers/tokens.js';

const TOPIC = 'https://example.com/inbox/alice';
const key = hmacKey();
let hub: TestHub | undefined;
afterEach(async () => {
  await hub?.close();
  hub = undefined;
});

describe('token expiry and refresh', () => {
  it('closes the stream at exp; an expired token gets 401; a fresh one resumes exactly', async () => {
    hub = await startTestHub({
      config: { jwtKey: HS_SECRET, jwtLeewaySeconds: 0, heartbeatMs: 400, demo: false },
    });
    const publisher = bearer(await mint(key, publisherClaims(TOPIC)));
    const send = async (data: string) => {
      const answer = await publish(hub!.hubUrl, { topic: TOPIC, data, private: 'on' }, publisher);
      expect(answer.status).toBe(200);
      return answer.body;
    };

    const shortLived = await mint(key, subscriberClaims([TOPIC], 'alice'), { expiresIn: 3 });
    const expiresAt =
      JSON.parse(Buffer.from(shortLived.split('.')[1] as string, 'base64url').toString()).exp * 1000;
    const first = await openStream(topicUrl(hub.hubUrl, [TOPIC]), bearer(shortLived));
    expect(first.response.statusCode).toBe(200);
    const before = [await send('one'), await send('two')];
    await first.waitFor(() => first.events.length === 2, 5000, 'first two');
    await first.closed;
    const closedAt = Date.now();
    expect(closedAt).toBeGreaterThanOrEqual(expiresAt);
    expect(closedAt).toBeLessThan(expiresAt + 3000);
    expect(first.events.map((event) => event.lastEventId)).toEqual(before);

    const missed = [await send('three'), await send('four')];
    const resumeFrom = first.lastEventId();
    expect(resumeFrom).toBe(before[1]);

    const stale = await trySubscribe(hub.hubUrl, [TOPIC], {
      ...bearer(shortLived),
      'Last-Event-ID': resumeFrom,
    });
    expectRefused(stale, 401, /token expired/, 'token expired');

    const fresh = await mint(key, subscriberClaims([TOPIC], 'alice'), { expiresIn: 600 });
    const second = await openStream(topicUrl(hub.hubUrl, [TOPIC]), {
      ...bearer(fresh),
      'Last-Event-ID': resumeFrom,
    });
    expect(second.response.statusCode).toBe(200);
    expect(second.response.headers['last-event-id']).toBe(resumeFrom);
    const live = await send('five');
    await second.waitFor(() => second.events.length === 3, 5000, 'missed and live');
    expect(second.events.map((event) => event.lastEventId)).toEqual([...missed, live]);
    expect(second.events.map((event) => event.data)).toEqual(['three', 'four', 'five']);
    second.destroy();
  });
});
