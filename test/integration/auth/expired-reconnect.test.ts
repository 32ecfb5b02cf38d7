import { SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestHub, topicUrl } from '../../helpers/hub.js';
import type { TestHub } from '../../helpers/hub.js';

const SECRET = 'a-secret-that-is-at-least-32-bytes-long!!';

async function token(expiresInSeconds: number): Promise<string> {
  return new SignJWT({ mercure: { subscribe: ['*'] } })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime(Math.floor(Date.now() / 1000) + expiresInSeconds)
    .sign(new TextEncoder().encode(SECRET));
}

describe('a token past its exp', () => {
  let hub: TestHub | undefined;
  afterEach(async () => {
    await hub?.close();
    hub = undefined;
  });

  it('is refused on a reconnect over the connection the hub handed back when it ended the stream at exp', async () => {
    const test = await startTestHub({ config: { jwtKey: SECRET, jwtLeewaySeconds: 0 } });
    hub = test;
    const expiring = await token(2);
    const url = topicUrl(test.hubUrl, ['t']);
    const headers = { Authorization: `Bearer ${expiring}` };
    const first = await fetch(url, { headers });
    expect(first.status).toBe(200);
    // The hub ends the stream at exp; read it to its end (the connection goes back to the pool).
    await first.text();
    const again = await fetch(url, { headers });
    const status = again.status;
    await again.body?.cancel();
    expect(status).toBe(401);
  });
});
