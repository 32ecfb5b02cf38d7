import { afterEach, describe, expect, it } from 'vitest';
import { openStream, publish, startTestHub, topicUrl } from '../../helpers/hub.js';
import type { TestHub } from '../../helpers/hub.js';
import { expectRefused, trySubscribe } from '../../helpers/auth-answers.js';
import {
  HS_SECRET,
  JwksServer,
  asymmetricKey,
  bearer,
  hmacKey,
  mint,
  publisherClaims,
  subscriberClaims,
  unsignedToken,
} from '../../helpers/tokens.js';
import type { SigningKey } from '../../helpers/tokens.js';

const TOPIC = 'https://example.com/orders/1';
let hub: TestHub | undefined;
let jwks: JwksServer | undefined;
afterEach(async () => {
  await hub?.close();
  await jwks?.close();
  hub = undefined;
  jwks = undefined;
});

/** A subscriber and a publisher with valid tokens work end to end: the private update arrives. */
async function expectWorks(
  hubUrl: string,
  subscriberKey: SigningKey,
  publisherKey: SigningKey,
  kid?: string,
) {
  const subscriberToken = await mint(subscriberKey, subscriberClaims([TOPIC]), { expiresIn: 600, kid });
  const stream = await openStream(topicUrl(hubUrl, [TOPIC]), bearer(subscriberToken));
  expect(stream.response.statusCode).toBe(200);
  const publisherToken = await mint(publisherKey, publisherClaims(TOPIC), { kid });
  const sent = await publish(hubUrl, { topic: TOPIC, data: 'hello', private: 'on' }, bearer(publisherToken));
  expect(sent.status, sent.body).toBe(200);
  await stream.waitFor(() => stream.events.length === 1, 5000, 'private update');
  expect(stream.events[0]?.lastEventId).toBe(sent.body);
  stream.destroy();
}

describe('PEM public keys', () => {
  for (const alg of ['RS256', 'ES256'] as const) {
    it(`${alg}: accepts tokens of the key; refuses another key's, alg confusion, and other algorithms`, async () => {
      const key = await asymmetricKey(alg);
      hub = await startTestHub({ config: { jwtKey: key.verification, demo: false } });
      await expectWorks(hub.hubUrl, key, key);

      const otherKey = await asymmetricKey(alg);
      const forged = await mint(otherKey, subscriberClaims(['*']), { expiresIn: 600 });
      expectRefused(
        await trySubscribe(hub.hubUrl, [TOPIC], bearer(forged)),
        401,
        /bad signature/,
        'bad signature',
      );

      // The classic confusion attack: an HMAC token keyed with the public key text.
      const confused = await mint(hmacKey(key.verification), subscriberClaims(['*']), { expiresIn: 600 });
      expectRefused(
        await trySubscribe(hub.hubUrl, [TOPIC], bearer(confused)),
        401,
        /algorithm not allowed/,
        'algorithm not allowed',
      );

      const otherAlg = await asymmetricKey(alg === 'RS256' ? 'ES256' : 'RS256');
      const wrongAlg = await mint(otherAlg, publisherClaims('*'));
      const refused = await publish(hub.hubUrl, { topic: TOPIC, data: 'x' }, bearer(wrongAlg));
      expectRefused(refused, 401, /algorithm not allowed/, 'algorithm not allowed');

      const none = unsignedToken(publisherClaims('*'));
      expectRefused(
        await publish(hub.hubUrl, { topic: TOPIC, data: 'x' }, bearer(none)),
        401,
        /algorithm not allowed/,
        'algorithm not allowed',
      );
    });
  }

  it('separate publisher and subscriber keys: each role accepts only its own key', async () => {
    const publisherKey = await asymmetricKey('RS256');
    const subscriberKey = hmacKey();
    hub = await startTestHub({
      config: { publisherJwtKey: publisherKey.verification, subscriberJwtKey: HS_SECRET, demo: false },
    });
    await expectWorks(hub.hubUrl, subscriberKey, publisherKey);
    const subscriberTokenForPublishing = await mint(subscriberKey, publisherClaims('*'));
    expectRefused(
      await publish(hub.hubUrl, { topic: TOPIC, data: 'x' }, bearer(subscriberTokenForPublishing)),
      401,
      /algorithm not allowed/,
    );
    const publisherTokenForSubscribing = await mint(publisherKey, subscriberClaims(['*']), {
      expiresIn: 600,
    });
    expectRefused(
      await trySubscribe(hub.hubUrl, [TOPIC], bearer(publisherTokenForSubscribing)),
      401,
      /algorithm not allowed/,
    );
  });
});

describe('JWKS URL', () => {
  it('verifies RS256 and ES256 tokens by kid; refuses unknown kids, wrong keys, HMAC and none', async () => {
    const rsa = await asymmetricKey('RS256', 'rsa-1');
    const ec = await asymmetricKey('ES256', 'ec-1');
    jwks = await JwksServer.start([rsa.publicJwk!, ec.publicJwk!]);
    hub = await startTestHub({ config: { jwksUrl: jwks.url, demo: false } });
    await expectWorks(hub.hubUrl, rsa, rsa, 'rsa-1');
    await expectWorks(hub.hubUrl, ec, ec, 'ec-1');
    // The key set is cached, not fetched per token.
    expect(jwks.requests).toBe(1);

    const stranger = await asymmetricKey('RS256');
    const unknownKid = await mint(stranger, subscriberClaims(['*']), { expiresIn: 600, kid: 'nobody' });
    expectRefused(
      await trySubscribe(hub.hubUrl, [TOPIC], bearer(unknownKid)),
      401,
      /unknown signing key/,
      'unknown signing key',
    );
    const stolenKid = await mint(stranger, subscriberClaims(['*']), { expiresIn: 600, kid: 'rsa-1' });
    expectRefused(
      await trySubscribe(hub.hubUrl, [TOPIC], bearer(stolenKid)),
      401,
      /bad signature/,
      'bad signature',
    );
    const hmac = await mint(hmacKey(), subscriberClaims(['*']), { expiresIn: 600 });
    expectRefused(
      await trySubscribe(hub.hubUrl, [TOPIC], bearer(hmac)),
      401,
      /algorithm not allowed/,
      'algorithm not allowed',
    );
    expectRefused(
      await trySubscribe(hub.hubUrl, [TOPIC], bearer(unsignedToken({}))),
      401,
      /algorithm not allowed/,
      'algorithm not allowed',
    );
  });

  it('answers 503 with Retry-After when the key set cannot be fetched, then recovers', async () => {
    const rsa = await asymmetricKey('RS256', 'rsa-1');
    jwks = await JwksServer.start([rsa.publicJwk!]);
    jwks.status = 500;
    hub = await startTestHub({ config: { jwksUrl: jwks.url, demo: false } });
    const token = await mint(rsa, subscriberClaims([TOPIC]), { expiresIn: 600, kid: 'rsa-1' });
    const refused = await trySubscribe(hub.hubUrl, [TOPIC], bearer(token));
    expectRefused(refused, 503, /signing keys unavailable/);
    expect(refused.headers['retry-after']).toBe('5');
    jwks.status = 200;
    await expectWorks(hub.hubUrl, rsa, rsa, 'rsa-1');
  });
});
