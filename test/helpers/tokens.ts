import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { SignJWT, UnsecuredJWT, exportJWK, exportSPKI, generateKeyPair } from 'jose';
import type { CryptoKey, JWK, JWTPayload } from 'jose';

export const HS_SECRET = 'test-secret-of-at-least-thirty-two-bytes!';
export const OTHER_SECRET = 'another-secret-of-at-least-thirty-two-b!';

export interface SigningKey {
  alg: string;
  /** What the hub is configured with: the secret, or the public key as PEM. */
  verification: string;
  sign: CryptoKey | Uint8Array;
  publicJwk?: JWK;
}

export function hmacKey(secret = HS_SECRET, alg = 'HS256'): SigningKey {
  return { alg, verification: secret, sign: new TextEncoder().encode(secret) };
}

export async function asymmetricKey(alg: 'RS256' | 'ES256', kid?: string): Promise<SigningKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), alg, use: 'sig', ...(kid ? { kid } : {}) };
  return { alg, verification: await exportSPKI(publicKey), sign: privateKey, publicJwk };
}

export interface MintOptions {
  /** Seconds from now; negative for an expired token. */
  expiresIn?: number;
  notBefore?: number;
  kid?: string;
  alg?: string;
  /** Seconds from now for `iat` (default 0: now). */
  issuedIn?: number;
  /** The `typ` header, e.g. `at+jwt` for a draft-08 access token (default: none). */
  typ?: string;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

export function mint(key: SigningKey, claims: JWTPayload, options: MintOptions = {}): Promise<string> {
  const jwt = new SignJWT(claims).setProtectedHeader({
    alg: options.alg ?? key.alg,
    ...(options.kid ? { kid: options.kid } : {}),
    ...(options.typ !== undefined ? { typ: options.typ } : {}),
  });
  jwt.setIssuedAt(nowSeconds() + (options.issuedIn ?? 0));
  if (options.expiresIn !== undefined) jwt.setExpirationTime(nowSeconds() + options.expiresIn);
  if (options.notBefore !== undefined) jwt.setNotBefore(nowSeconds() + options.notBefore);
  return jwt.sign(key.sign);
}

/** A token with `alg: none`: no signature at all. */
export function unsignedToken(claims: JWTPayload): string {
  return new UnsecuredJWT(claims).setIssuedAt().encode();
}

export const publisherClaims = (...publish: string[]): JWTPayload => ({ mercure: { publish } });
export const subscriberClaims = (subscribe: string[], sub?: string): JWTPayload => ({
  mercure: { subscribe },
  ...(sub ? { sub } : {}),
});

/** The RFC 9396 detail type of Mercure grants (draft-08). */
export const MERCURE_DETAIL = 'https://mercure.rocks/authorization-detail';

/** One draft-08 grant: `actions` on `topics` (`{ match, match_type? }` objects). */
export const detail = (
  actions: string[],
  topics: { match: string; match_type?: string }[],
  payload?: unknown,
): Record<string, unknown> => ({
  type: MERCURE_DETAIL,
  actions,
  topics,
  ...(payload === undefined ? {} : { payload }),
});

/** Serves a JWK Set on loopback, as an identity provider would; the set can change or fail. */
export class JwksServer {
  keys: JWK[] = [];
  status = 200;
  requests = 0;
  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(keys: JWK[]): Promise<JwksServer> {
    const holder: { self?: JwksServer } = {};
    const server = createServer((_req, res) => {
      const self = holder.self;
      if (!self) return res.writeHead(503).end();
      self.requests++;
      res.writeHead(self.status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ keys: self.keys }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const self = new JwksServer(server, `http://127.0.0.1:${port}/jwks.json`);
    self.keys = keys;
    holder.self = self;
    return self;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

export const bearer = (token: string): Record<string, string> => ({ Authorization: `Bearer ${token}` });
