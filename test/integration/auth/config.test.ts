import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KeyConfigError, parseVerificationKey } from '../../../src/auth/keys.js';
import { RateLimiter } from '../../../src/auth/rate-limit.js';
import { authorizerFromSettings } from '../../../src/auth/settings.js';
import type { AuthSettings } from '../../../src/auth/settings.js';
import { TokenRejectedError, keyVerifier } from '../../../src/auth/verifier.js';
import type { IncomingMessage } from 'node:http';
import { isSameOrigin } from '../../../src/http/cors.js';
import { createHubServer } from '../../../src/server/app.js';
import { ConfigError, loadConfig } from '../../../src/server/config.js';
import { HS_SECRET, hmacKey, mint } from '../../helpers/tokens.js';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const RSA_PUBLIC = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString();
const RSA_PRIVATE = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const base: AuthSettings = { jwtLeewaySeconds: 5, allowAnonymous: false, publishRatePerSecond: 0 };

describe('authorization settings', () => {
  it('reads keys, anonymous access, leeway and CORS origins from flags and the environment', () => {
    const { config } = loadConfig({
      argv: ['--allow-anonymous', '--jwt-leeway', '2'],
      env: { SSEHUB_JWT_KEY: 'secret', SSEHUB_CORS_ORIGINS: 'https://a.example, https://B.example:443' },
    });
    expect(config).toMatchObject({
      jwtKey: 'secret',
      allowAnonymous: true,
      jwtLeewaySeconds: 2,
      corsOrigins: ['https://a.example', 'https://b.example'],
    });
    expect(loadConfig({ env: { SSEHUB_CORS_ORIGINS: '*' } }).config.corsOrigins).toEqual(['*']);
    expect(loadConfig({}).config).toMatchObject({
      jwtKey: undefined,
      allowAnonymous: false,
      corsOrigins: [],
    });
  });

  it.each([
    [{ SSEHUB_CORS_ORIGINS: '* https://a.example' }, /SSEHUB_CORS_ORIGINS: "\*" cannot be combined/],
    [{ SSEHUB_CORS_ORIGINS: 'https://a.example/app' }, /SSEHUB_CORS_ORIGINS: .* is not an origin/],
    [{ SSEHUB_CORS_ORIGINS: 'a.example' }, /is not an origin/],
    [{ SSEHUB_JWT_LEEWAY: '601' }, /SSEHUB_JWT_LEEWAY: must be between 0 and 600/],
    [{ SSEHUB_ALLOW_ANONYMOUS: 'maybe' }, /SSEHUB_ALLOW_ANONYMOUS: expected true or false/],
    [{ SSEHUB_MAX_CONNECTIONS: '-1' }, /SSEHUB_MAX_CONNECTIONS: expected an integer/],
  ])('refuses %j with one line naming the setting', (env, message) => {
    expect(() => loadConfig({ env })).toThrow(ConfigError);
    expect(() => loadConfig({ env })).toThrow(message);
  });

  it('is open (no authorizer) when no key is configured, even with anonymous access set', async () => {
    expect(authorizerFromSettings(base)).toBeUndefined();
    expect(authorizerFromSettings({ ...base, allowAnonymous: true })).toBeUndefined();
    const open = createHubServer({ config: { port: 0 } });
    const secured = createHubServer({ config: { port: 0, jwtKey: HS_SECRET } });
    expect([open.authorization, secured.authorization]).toEqual(['open', 'jwt']);
    await Promise.all([open.close(), secured.close()]);
  });

  it.each<[Partial<AuthSettings>, RegExp]>([
    [{ jwtKey: RSA_PRIVATE }, /SSEHUB_JWT_KEY: this is a private key; give the hub the public key only/],
    [
      { jwtKey: '-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----' },
      /SSEHUB_JWT_KEY: not a readable PEM/,
    ],
    [{ subscriberJwtKey: HS_SECRET }, /publishers have no key/],
    [{ publisherJwtKey: HS_SECRET }, /subscribers have no key: .* or SSEHUB_ALLOW_ANONYMOUS=true/],
    [{ jwtKey: RSA_PUBLIC, jwtAlgorithms: 'HS256' }, /algorithm HS256 cannot be used with an RSA key/],
    [{ jwtKey: HS_SECRET, jwtAlgorithms: 'RS256' }, /algorithm RS256 cannot be used with an HMAC secret/],
    [{ jwtKey: HS_SECRET, jwtAlgorithms: 'none' }, /SSEHUB_JWT_ALG: unsupported algorithm "none"/],
    [{ jwksUrl: 'not a url' }, /SSEHUB_JWKS_URL: not a URL/],
    [{ jwksUrl: 'ftp://keys.example/jwks' }, /SSEHUB_JWKS_URL: must be an http\(s\) URL/],
    [
      { jwksUrl: 'https://keys.example/jwks', jwtAlgorithms: 'HS256' },
      /HMAC algorithms cannot be used with SSEHUB_JWKS_URL/,
    ],
    [{ jwtKey: '@/nonexistent/ssehub-key.pem' }, /SSEHUB_JWT_KEY: cannot read key file/],
  ])('refuses %j before listening, naming the setting', (settings, message) => {
    expect(() => authorizerFromSettings({ ...base, ...settings })).toThrow(KeyConfigError);
    expect(() => authorizerFromSettings({ ...base, ...settings })).toThrow(message);
  });

  it('reads a key from a file with @path and infers the algorithm from it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ssehub-auth-'));
    writeFileSync(join(dir, 'public.pem'), RSA_PUBLIC);
    writeFileSync(join(dir, 'secret'), `${HS_SECRET}\n`);
    expect(parseVerificationKey(`@${join(dir, 'public.pem')}`, 'k', undefined)).toMatchObject({
      kind: 'rsa',
      algorithms: ['RS256'],
    });
    const secret = parseVerificationKey(`@${join(dir, 'secret')}`, 'k', undefined);
    expect(secret).toMatchObject({ kind: 'secret', algorithms: ['HS256'] });
    expect(Buffer.from(secret.key as Uint8Array).toString()).toBe(HS_SECRET);
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-384' })
      .publicKey.export({ type: 'spki', format: 'pem' })
      .toString();
    expect(parseVerificationKey(ec, 'k', undefined).algorithms).toEqual(['ES384']);
  });

  it('remembers a verified token only until it expires', async () => {
    let now = Date.now();
    const verifier = keyVerifier(parseVerificationKey(HS_SECRET, 'k', undefined), {
      leewaySeconds: 2,
      now: () => now,
    });
    const token = await mint(hmacKey(), { sub: 'cached' }, { expiresIn: 10 });
    const exp = JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()).exp as number;
    await expect(verifier.verify(token)).resolves.toMatchObject({ sub: 'cached' });
    now = (exp + 2) * 1000 - 1;
    await expect(verifier.verify(token)).resolves.toMatchObject({ sub: 'cached' });
    now = (exp + 2) * 1000;
    await expect(verifier.verify(token)).rejects.toThrow('token expired');
  });

  it('refuses a token longer than 16 KiB before parsing it', async () => {
    const verifier = keyVerifier(parseVerificationKey(HS_SECRET, 'k', undefined), { leewaySeconds: 0 });
    const long = await mint(hmacKey(), { pad: 'x'.repeat(17_000) });
    await expect(verifier.verify(long)).rejects.toThrow(TokenRejectedError);
    await expect(verifier.verify(long)).rejects.toThrow('malformed token');
    const short = await mint(hmacKey(), { pad: 'x' });
    await expect(verifier.verify(short)).resolves.toMatchObject({ pad: 'x' });
  });
});

describe('same-origin check (CSRF)', () => {
  const request = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage;
  it('compares the Origin with Host, or with :authority under HTTP/2', () => {
    expect(isSameOrigin(request({ host: 'hub.example:8443' }), 'https://hub.example:8443')).toBe(true);
    expect(isSameOrigin(request({ ':authority': 'hub.example' }), 'https://hub.example')).toBe(true);
    expect(isSameOrigin(request({ host: 'hub.example' }), 'https://evil.example')).toBe(false);
    expect(isSameOrigin(request({}), 'https://hub.example')).toBe(false);
    expect(isSameOrigin(request({ host: 'hub.example' }), 'null')).toBe(false);
  });
});

describe('publish rate limiter', () => {
  it('allows a burst, then one per 1/rate seconds, and says how long to wait', () => {
    let now = 0;
    const limiter = new RateLimiter({ perSecond: 2, burst: 3, now: () => now });
    expect([limiter.take('t'), limiter.take('t'), limiter.take('t')]).toEqual([0, 0, 0]);
    expect(limiter.take('t')).toBe(1);
    expect(limiter.take('other')).toBe(0);
    now = 500;
    expect(limiter.take('t')).toBe(0);
    expect(limiter.take('t')).toBe(1);
    now = 10_000;
    expect([limiter.take('t'), limiter.take('t'), limiter.take('t'), limiter.take('t')]).toEqual([
      0, 0, 0, 1,
    ]);
  });

  it('forgets the least recently used keys past its bound', () => {
    const limiter = new RateLimiter({ perSecond: 1, maxKeys: 2, now: () => 0 });
    expect(limiter.take('a')).toBe(0);
    expect(limiter.take('a')).toBe(1);
    limiter.take('b');
    limiter.take('c');
    // `a` was forgotten, so it starts with a full bucket again: memory stays bounded.
    expect(limiter.take('a')).toBe(0);
  });
});

describe('the command line', () => {
  function runCli(
    env: Record<string, string>,
  ): Promise<{ stdout: string; stderr: string; code: number | null }> {
    return new Promise((resolve, reject) => {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', 'src/server/cli.ts', '--port', '0', '--no-demo'],
        {
          env: { PATH: process.env.PATH ?? '', SSEHUB_STORE: 'memory', ...env },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let stdout = '';
      let stderr = '';
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        // Listening and the authorization notice are both printed: stop the hub.
        if (/listening/.test(stdout) && /authorization|warning/.test(stdout + stderr)) child.kill('SIGTERM');
      });
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (/listening/.test(stdout) && /warning/.test(stderr)) child.kill('SIGTERM');
      });
      child.on('error', reject);
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve({ stdout, stderr, code });
      });
    });
  }

  it('warns about an open hub without a key, and not with one', async () => {
    const open = await runCli({});
    expect(open.stderr).toMatch(/warning: no authorization is configured.*loopback only/);
    const secured = await runCli({ SSEHUB_JWT_KEY: HS_SECRET });
    expect(secured.stderr).not.toMatch(/warning/);
    expect(secured.stdout).toMatch(/authorization on: publishers need a token, subscribers need a token/);
  });

  it('warns about a short HMAC secret, but starts', async () => {
    const result = await runCli({ SSEHUB_JWT_KEY: 'short-secret' });
    expect(result.stderr).toBe(
      'ssehub: warning: SSEHUB_JWT_KEY: an HMAC secret of 12 bytes can be guessed offline from any token; use at least 32 random bytes\n',
    );
    expect(result.stdout).toMatch(/listening/);
  });

  it('exits 2 with one line naming the setting for an unusable key', async () => {
    const result = await runCli({ SSEHUB_JWT_KEY: RSA_PRIVATE });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'ssehub: SSEHUB_JWT_KEY: this is a private key; give the hub the public key only\n',
    );
  });
});
