import { afterEach, describe, expect, it } from 'vitest';
import { publish, startTestHub } from '../../helpers/hub.js';
import type { TestHub } from '../../helpers/hub.js';
import { expectRefused, trySubscribe } from '../../helpers/auth-answers.js';
import { HS_SECRET, bearer, hmacKey, mint, publisherClaims, subscriberClaims } from '../../helpers/tokens.js';

/**
 * Issue 11, defect 8: a `sub` that is not a string was read as "no subject", so its streams escaped
 * the per-subject limit and the subject cut-off. Such tokens are refused, for both roles.
 */
const TOPIC = 'https://example.com/feed';
const key = hmacKey();
let hub: TestHub | undefined;
afterEach(async () => {
  await hub?.close();
  hub = undefined;
});

const NOT_STRINGS: Record<string, unknown> = {
  'an array': ['alice'],
  'a number': 42,
  'an object': { name: 'alice' },
  null: null,
  'a boolean': true,
};

describe('a "sub" claim that is not a string', () => {
  it.each(Object.entries(NOT_STRINGS))(
    '%s: subscribing is refused with 401, no stream opens',
    async (_, sub) => {
      hub = await startTestHub({ config: { jwtKey: HS_SECRET, maxConnectionsPerSubject: 1, demo: false } });
      const token = await mint(key, { ...subscriberClaims([TOPIC]), sub } as never);
      for (let attempt = 0; attempt < 2; attempt++) {
        const answer = await trySubscribe(hub.hubUrl, [TOPIC], bearer(token));
        expectRefused(answer, 401, /^Token refused: the "sub" claim must be a string\.$/m, 'invalid claims');
        answer.stream?.destroy();
      }
      expect(hub.hub.stats().subscribers).toBe(0);
    },
  );

  it.each(Object.entries(NOT_STRINGS))(
    '%s: publishing is refused with 401, nothing stored',
    async (_, sub) => {
      hub = await startTestHub({ config: { jwtKey: HS_SECRET, demo: false } });
      const token = await mint(key, { ...publisherClaims('*'), sub } as never);
      const answer = await publish(hub.hubUrl, { topic: TOPIC, data: 'x' }, bearer(token));
      expectRefused(answer, 401, /^Token refused: the "sub" claim must be a string\.$/m, 'invalid claims');
      expect(await hub.hub.store.head()).toBe('earliest');
    },
  );

  it('a string subject, and none at all, are still accepted', async () => {
    hub = await startTestHub({ config: { jwtKey: HS_SECRET, demo: false } });
    for (const claims of [subscriberClaims([TOPIC], 'alice'), subscriberClaims([TOPIC])]) {
      const answer = await trySubscribe(hub.hubUrl, [TOPIC], bearer(await mint(key, claims)));
      expect(answer.status).toBe(200);
      answer.stream?.destroy();
    }
  });
});
