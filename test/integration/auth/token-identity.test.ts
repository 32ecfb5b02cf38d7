import { afterEach, describe, expect, it } from 'vitest';
import { base64url } from 'jose';
import { publish, startTestHub } from '../../helpers/hub.js';
import type { TestHub } from '../../helpers/hub.js';
import { expectRefused } from '../../helpers/auth-answers.js';
import { asymmetricKey, bearer, hmacKey, mint, publisherClaims } from '../../helpers/tokens.js';
import type { SigningKey } from '../../helpers/tokens.js';

/**
 * Issue 11, defect 6: the publish rate limit was kept per token string, and the token decoder
 * accepts several spellings of one token, so each respelling started a fresh bucket.
 */
const TOPIC = 'https://example.com/feed';
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
let hub: TestHub | undefined;
afterEach(async () => {
  await hub?.close();
  hub = undefined;
});

const parts = (token: string) => token.split('.') as [string, string, string];

/** The same signature bytes with the spare low bits of the last base64url character set. */
function withSpareBitsSet(token: string): string {
  const [header, claims, signature] = parts(token);
  const spareBits = (signature.length * 6) % 8;
  const last = ALPHABET.indexOf(signature.at(-1)!);
  const respelled = `${signature.slice(0, -1)}${ALPHABET[last | ((1 << spareBits) - 1)]}`;
  expect(respelled).not.toBe(signature);
  return `${header}.${claims}.${respelled}`;
}

function withPadding(token: string): string {
  const [header, claims, signature] = parts(token);
  expect(signature.length % 4).not.toBe(0);
  return `${header}.${claims}.${signature.padEnd(Math.ceil(signature.length / 4) * 4, '=')}`;
}

/** ECDSA: (r, s) and (r, n − s) both verify, so a holder can mint a second signature. */
function withMirroredEcdsaSignature(token: string): string {
  const [header, claims, signature] = parts(token);
  const bytes = base64url.decode(signature);
  const order = BigInt('0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551');
  const s = BigInt(`0x${Buffer.from(bytes.subarray(32)).toString('hex')}`);
  const mirrored = Buffer.from((order - s).toString(16).padStart(64, '0'), 'hex');
  return `${header}.${claims}.${base64url.encode(Buffer.concat([bytes.subarray(0, 32), mirrored]))}`;
}

async function publishWith(authorization: { header: string } | { query: string }) {
  if ('header' in authorization) {
    return publish(hub!.hubUrl, { topic: TOPIC, data: 'x' }, bearer(authorization.header));
  }
  return publish(`${hub!.hubUrl}?authorization=${authorization.query}`, { topic: TOPIC, data: 'x' });
}

async function expectOneBucket(key: SigningKey, respellings: (token: string) => Record<string, string>) {
  // One update per 100 s: the burst of one is spent at once and nothing refills during the test.
  hub = await startTestHub({ config: { jwtKey: key.verification, publishRatePerSecond: 0.01, demo: false } });
  const token = await mint(key, { ...publisherClaims('*'), sub: 'publisher' });
  expect((await publishWith({ header: token })).status).toBe(200);
  const stored = await hub.hub.store.head();
  for (const [spelling, authorization] of Object.entries(respellings(token))) {
    const answer = await publishWith(
      spelling.startsWith('query') ? { query: authorization } : { header: authorization },
    );
    expect({ spelling, status: answer.status }).toEqual({ spelling, status: 429 });
    expectRefused(answer, 429, /Publish rate limit: at most 0\.01 updates per second per token/);
  }
  expect(await hub.hub.store.head()).toBe(stored);
}

describe('publish rate limit: one bucket per token, however it is spelled', () => {
  it('HS256: padding, spare bits, and spaces in the query form share the first spelling’s bucket', async () => {
    await expectOneBucket(hmacKey(), (token) => ({
      'the same string': token,
      'padded signature': withPadding(token),
      'spare bits set': withSpareBitsSet(token),
      'query, plain': token,
      'query, %20 inside the signature': `${token.slice(0, -6)}%20${token.slice(-6)}`,
      'query, %20 and padding': `${withPadding(token).slice(0, -8)}%20${withPadding(token).slice(-8)}`,
    }));
  });

  it('ES256: the mirrored signature is the same token too', async () => {
    await expectOneBucket(await asymmetricKey('ES256'), (token) => ({
      'mirrored signature': withMirroredEcdsaSignature(token),
      'mirrored, spare bits set': withSpareBitsSet(withMirroredEcdsaSignature(token)),
    }));
  });

  it('distinct tokens still have distinct buckets', async () => {
    const key = hmacKey();
    hub = await startTestHub({
      config: { jwtKey: key.verification, publishRatePerSecond: 0.01, demo: false },
    });
    for (const sub of ['alice', 'bob']) {
      const token = await mint(key, { ...publisherClaims('*'), sub });
      expect((await publishWith({ header: token })).status).toBe(200);
    }
  });
});
