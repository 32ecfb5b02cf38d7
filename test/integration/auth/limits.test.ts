import { afterEach, describe, expect, it } from 'vitest';
import { delay, openStream, publish, startTestHub, topicUrl } from '../../helpers/hub.js';
import type { RawStream, TestHub } from '../../helpers/hub.js';
import { expectRefused, trySubscribe } from '../../helpers/auth-answers.js';
import { HS_SECRET, bearer, hmacKey, mint, publisherClaims, subscriberClaims } from '../../helpers/tokens.js';

const TOPIC = 'https://example.com/feed';
const key = hmacKey();
let hub: TestHub | undefined;
const open: RawStream[] = [];
afterEach(async () => {
  for (const stream of open.splice(0)) stream.destroy();
  await hub?.close();
  hub = undefined;
});

async function subscribeAs(subject: string | undefined): Promise<RawStream> {
  const headers =
    subject === undefined
      ? {}
      : bearer(await mint(key, subscriberClaims([TOPIC], subject), { expiresIn: 600 }));
  const stream = await openStream(topicUrl(hub!.hubUrl, [TOPIC]), headers);
  expect(stream.response.statusCode).toBe(200);
  open.push(stream);
  return stream;
}

async function expectStillServes(streams: RawStream[]) {
  const sent = await publish(
    hub!.hubUrl,
    { topic: TOPIC, data: 'still here' },
    bearer(await mint(key, publisherClaims('*'))),
  );
  expect(sent.status).toBe(200);
  for (const stream of streams) {
    await stream.waitFor(
      () => stream.events.some((event) => event.lastEventId === sent.body),
      5000,
      'update',
    );
  }
}

describe('connection limits', () => {
  it('refuses a subject past its limit with 429 and Retry-After, and admits it again once one stream closes', async () => {
    hub = await startTestHub({ config: { jwtKey: HS_SECRET, maxConnectionsPerSubject: 2, demo: false } });
    const first = await subscribeAs('alice');
    const second = await subscribeAs('alice');
    const bob = await subscribeAs('bob');
    const token = await mint(key, subscriberClaims([TOPIC], 'alice'), { expiresIn: 600 });
    const refused = await trySubscribe(hub.hubUrl, [TOPIC], bearer(token));
    expectRefused(refused, 429, /Too many connections for this subject: at most 2/);
    expect(refused.headers['retry-after']).toBe('5');
    expect(hub.hub.stats().subscribers).toBe(3);
    await expectStillServes([first, second, bob]);

    first.destroy();
    await first.closed;
    // The slot is freed when the hub notices the close: retry until then (bounded).
    let again;
    for (let attempt = 0; attempt < 50; attempt++) {
      again = await trySubscribe(hub.hubUrl, [TOPIC], bearer(token));
      if (again.status === 200) break;
      await delay(20);
    }
    expect(again?.status).toBe(200);
    open.push(again!.stream!);
    await expectStillServes([second, bob, again!.stream!]);
  });

  it('refuses any stream past the total with 503 and Retry-After, and serves the open ones', async () => {
    hub = await startTestHub({
      config: { jwtKey: HS_SECRET, allowAnonymous: true, maxConnections: 3, demo: false },
    });
    const streams = [await subscribeAs(undefined), await subscribeAs('alice'), await subscribeAs(undefined)];
    for (const subject of [undefined, 'bob']) {
      const headers = subject
        ? bearer(await mint(key, subscriberClaims([TOPIC], subject), { expiresIn: 600 }))
        : {};
      const refused = await trySubscribe(hub.hubUrl, [TOPIC], headers);
      expectRefused(refused, 503, /Too many connections: the hub is at its limit of 3/);
      expect(refused.headers['retry-after']).toBe('5');
    }
    await expectStillServes(streams);
  });

  it('counts a refused (401) attempt nowhere', async () => {
    hub = await startTestHub({ config: { jwtKey: HS_SECRET, maxConnections: 1, demo: false } });
    for (let i = 0; i < 5; i++)
      expect((await trySubscribe(hub.hubUrl, [TOPIC], bearer('bad'))).status).toBe(401);
    await expectStillServes([await subscribeAs('carol')]);
  });
});

describe('publish rate per token', () => {
  it('answers 429 with Retry-After past the rate, leaves other tokens alone, and recovers', async () => {
    hub = await startTestHub({ config: { jwtKey: HS_SECRET, publishRatePerSecond: 5, demo: false } });
    const watcher = await subscribeAs('watcher');
    const busy = bearer(await mint(key, { ...publisherClaims('*'), sub: 'busy' }));
    const quiet = bearer(await mint(key, { ...publisherClaims('*'), sub: 'quiet' }));
    const accepted: string[] = [];
    let refused;
    // The burst of 5 always passes; sending on at full speed must hit the limit (bounded loop).
    for (let i = 0; i < 40 && refused === undefined; i++) {
      const answer = await publish(hub.hubUrl, { topic: TOPIC, data: `busy ${i}` }, busy);
      if (answer.status === 200) accepted.push(answer.body);
      else refused = answer;
    }
    expect(accepted.length).toBeGreaterThanOrEqual(5);
    expectRefused(refused!, 429, /at most 5 updates per second per token/);
    expect(Number(refused!.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    const other = await publish(hub.hubUrl, { topic: TOPIC, data: 'quiet' }, quiet);
    expect(other.status).toBe(200);
    accepted.push(other.body);
    await delay(Number(refused!.headers['retry-after']) * 1000);
    const later = await publish(hub.hubUrl, { topic: TOPIC, data: 'busy again' }, busy);
    expect(later.status).toBe(200);
    accepted.push(later.body);
    await watcher.waitFor(() => watcher.events.length === accepted.length, 5000, 'accepted updates');
    expect(watcher.events.map((event) => event.lastEventId)).toEqual(accepted);
  });
});
