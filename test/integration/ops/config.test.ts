import { execFileSync, spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  OPTIONS,
  helpText,
  loadConfig,
  markdownTable,
  retentionWarnings,
} from '../../../src/server/config.js';
import { BUILT_CLI, ROOT, ensureBuilt, exited, runBuiltCli } from '../../helpers/hub-process.js';

const dir = mkdtempSync(join(tmpdir(), 'ssehub-config-'));
const notPem = join(dir, 'not-a-certificate.txt');
const brokenPem = join(dir, 'broken.pem');
const missing = join(dir, 'missing.pem');
writeFileSync(notPem, 'hello\n');
const privateKey = join(dir, 'private.pem');
writeFileSync(
  privateKey,
  generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }),
);
writeFileSync(
  brokenPem,
  '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n',
);

/** A valid webhook secret: no error may print it. */
const WEBHOOK_SECRET = `whsec_${randomBytes(32).toString('base64')}`;

/**
 * Invalid values for every option. A new option must add its own here: the first test fails
 * until it does, so no option escapes validation.
 */
const INVALID: Record<string, string[]> = {
  port: ['abc', '-1', '65536', '80.5', ''],
  host: ['', '   '],
  historySize: ['0', 'ten', '10000001'],
  historyMaxAgeMs: ['-5', '1e3', 'week'],
  store: ['redis', 'disk'],
  dataDir: ['', '   '],
  sync: ['off', 'always'],
  historyPerTopic: ['-1', 'some', '10000001'],
  redisUrl: ['http://127.0.0.1:6379', 'localhost:6379', 'redis:// spaces'],
  redisPrefix: ['', 'has space', 'x'.repeat(101)],
  maxRewind: ['-1', '100001', 'all'],
  idempotencyWindowMs: ['0', '2592000001', 'a day'],
  heartbeatMs: ['-1', 'fast'],
  retryMs: ['soon', '-100'],
  maxBodyBytes: ['0', '1MB'],
  bodyTimeoutMs: ['-1', '600001', 'slow'],
  // Less than --max-body-bytes (1 MiB by default): one body of the largest size could never fit.
  maxBodyBytesInFlight: ['1000', '-1', 'lots'],
  maxBufferedBytes: ['1023', 'lots'],
  maxTopicsPerSubscription: ['0', 'many'],
  maxTopicLength: ['0', 'long'],
  maxConnections: ['-1', 'lots'],
  maxConnectionsPerSubject: ['-1', 'x'],
  maxNonStreamConnections: ['-1', 'many'],
  maxStreamOpensPerSecond: ['-1', '2.5', 'fast', '1000001'],
  streamOpenBurst: ['-1', 'lots', '10000001'],
  listenBacklog: ['0', '-5', 'deep'],
  requestTimeoutMs: ['0', '99', 'forever'],
  jwtKey: [`@${missing}`, `@${privateKey}`],
  publisherJwtKey: [`@${missing}`, `@${privateKey}`],
  subscriberJwtKey: [`@${missing}`, `@${privateKey}`],
  jwtAlgorithms: ['XX999', 'HS256,none'],
  jwksUrl: ['not a url', 'ftp://keys.example/jwks.json'],
  jwtLeewaySeconds: ['601', 'soon'],
  jwtIssuer: ['https://auth.example, two words', 'https://[broken'],
  jwtAudience: ['has space', 'urn:a,http://[::1'],
  allowAnonymous: ['maybe'],
  publishRatePerSecond: ['-1', 'fast'],
  corsOrigins: ['*,https://a.example', 'not an origin'],
  shutdownTimeoutMs: ['600001', 'later', '-1'],
  drainDelayMs: ['600001', 'x'],
  logLevel: ['verbose', 'infos', ''],
  subscriptionsFormat: ['draft-09', 'draft07', 'both,draft-08', ''],
  tlsCert: [missing, notPem],
  tlsKey: [missing, notPem],
  metrics: ['maybe', '2'],
  demo: ['maybe', 'nope'],
  subscriptions: ['maybe'],
  presenceLeaseMs: ['29', 'soon', '3600001'],
  presenceGraceMs: ['-1', 'brief', '600001'],
};

/** Extra flags an option needs so that only the value under test is wrong. */
const COMPANIONS: Record<string, string[]> = {
  tlsCert: ['--tls-key', brokenPem],
  tlsKey: ['--tls-cert', brokenPem],
};

interface Case {
  name: string;
  args: string[];
  env?: Record<string, string>;
  /** The error must contain one of these (the option it names, as flag, variable or file key). */
  names: string[];
}

function namesOf(spec: (typeof OPTIONS)[number]): string[] {
  return [spec.flag, ...spec.env, spec.key];
}

function cases(): Case[] {
  const all: Case[] = [];
  for (const spec of OPTIONS) {
    const companions = COMPANIONS[spec.key] ?? [];
    for (const value of INVALID[spec.key] ?? []) {
      all.push({
        name: `${spec.flag}=${JSON.stringify(value)}`,
        args: [`${spec.flag}=${value}`, ...companions],
        names: namesOf(spec),
      });
    }
    const [firstInvalid] = (INVALID[spec.key] ?? []).filter((v) => v.trim() !== '');
    if (firstInvalid === undefined) continue;
    for (const envName of spec.env) {
      all.push({
        name: `${envName}=${JSON.stringify(firstInvalid)}`,
        args: companions,
        env: { [envName]: firstInvalid },
        names: namesOf(spec),
      });
    }
    const file = join(dir, `${spec.key}.json`);
    writeFileSync(file, JSON.stringify({ [spec.key]: firstInvalid }));
    all.push({
      name: `config file ${spec.key}`,
      args: ['--config', file, ...companions],
      // The environment beats the file: without the test hubs' default store (an empty variable is unset).
      env: { SSEHUB_STORE: '' },
      names: namesOf(spec),
    });
    if (!spec.boolean)
      all.push({ name: `${spec.flag} without a value`, args: [spec.flag], names: namesOf(spec) });
  }
  const notObject = join(dir, 'array.json');
  writeFileSync(notObject, '[1, 2]');
  const badJson = join(dir, 'bad.json');
  writeFileSync(badJson, '{"port": ');
  const unknownKey = join(dir, 'unknown.json');
  writeFileSync(unknownKey, '{"prot": 3000}');
  // The `topics` section (issue 17): every way a policy can be wrong, each its own file.
  const badTopics: Record<string, unknown> = {
    'not an object': ['https://example.com/{id}'],
    'policy not an object': { 'https://example.com/{id}': 'state' },
    'unknown mode': { 'https://example.com/{id}': { mode: 'cache' } },
    'unknown field': { 'https://example.com/{id}': { mode: 'state', ttl: 5 } },
    'unknown slow-consumer policy': { '*': { slowConsumer: 'drop' } },
    'latest without state mode': { '*': { slowConsumer: 'latest' } },
    'ttl not a positive integer': { '*': { ttlMs: 0 } },
    'ttl as text': { '*': { ttlMs: '5s' } },
    'ttl over a year': { '*': { ttlMs: 365 * 24 * 3600 * 1000 + 1 } },
    'retainCount zero': { '*': { retainCount: 0 } },
    'retainCount fractional': { '*': { retainCount: 1.5 } },
    'retainCount as text': { '*': { retainCount: '10' } },
    'retainCount over the maximum': { '*': { retainCount: 1_000_000_001 } },
    'retainAgeMs negative': { '*': { retainAgeMs: -1 } },
    'retainAgeMs over a year': { '*': { retainAgeMs: 365 * 24 * 3600 * 1000 + 1 } },
    'retainAgeMs null': { '*': { retainAgeMs: null } },
    'empty selector': { '': { mode: 'state' } },
    'integer-like selector': { '42': { mode: 'state' } },
  };
  for (const [name, topics] of Object.entries(badTopics)) {
    const file = join(dir, `topics-${name.replace(/\W+/g, '-')}.json`);
    writeFileSync(file, JSON.stringify({ topics }));
    all.push({ name: `config file topics: ${name}`, args: ['--config', file], names: ['topics'] });
  }
  // The `webhooks` section: every way an endpoint or a setting can be wrong, each its own file.
  const url = 'https://backend.example/hooks';
  const events = ['update.published'];
  const endpoint = { url, secret: WEBHOOK_SECRET, events };
  const badWebhooks: Record<string, unknown> = {
    'not an object': [endpoint],
    'no endpoints': {},
    'empty endpoints': { endpoints: [] },
    'endpoint not an object': { endpoints: ['https://backend.example/hooks'] },
    'unknown endpoint field': { endpoints: [{ ...endpoint, headers: {} }] },
    'unknown section field': { endpoints: [endpoint], retries: 3 },
    'relative url': { endpoints: [{ ...endpoint, url: '/hooks' }] },
    'url of another scheme': { endpoints: [{ ...endpoint, url: 'ftp://backend.example/hooks' }] },
    'url with credentials': { endpoints: [{ ...endpoint, url: 'https://user:pw@backend.example/hooks' }] },
    'no secret': { endpoints: [{ url, events }] },
    'secret without whsec_': { endpoints: [{ ...endpoint, secret: WEBHOOK_SECRET.slice(6) }] },
    'secret too short': { endpoints: [{ ...endpoint, secret: 'whsec_c2hvcnQ=' }] },
    'secret file missing': { endpoints: [{ ...endpoint, secret: `@${missing}` }] },
    'no events': { endpoints: [{ url, secret: WEBHOOK_SECRET }] },
    'unknown event': { endpoints: [{ ...endpoint, events: ['topic.created'] }] },
    'topics not a list': { endpoints: [{ ...endpoint, topics: 'https://example.com/{id}' }] },
    'empty name': { endpoints: [{ ...endpoint, name: '' }] },
    'one name twice': { endpoints: [endpoint, { ...endpoint, secret: WEBHOOK_SECRET }] },
    'maxQueued 0': { endpoints: [endpoint], maxQueued: 0 },
    'timeoutMs as text': { endpoints: [endpoint], timeoutMs: '10s' },
    'concurrency too high': { endpoints: [endpoint], concurrency: 1000 },
    'retryMaxMs below retryBaseMs': { endpoints: [endpoint], retryBaseMs: 5000, retryMaxMs: 1000 },
    'presence events without --subscriptions': { endpoints: [{ ...endpoint, events: ['topic.vacant'] }] },
  };
  for (const [name, webhooks] of Object.entries(badWebhooks)) {
    const file = join(dir, `webhooks-${name.replace(/\W+/g, '-')}.json`);
    writeFileSync(file, JSON.stringify({ webhooks }));
    all.push({ name: `config file webhooks: ${name}`, args: ['--config', file], names: ['webhooks'] });
  }
  all.push(
    { name: 'unknown flag', args: ['--prot', '3000'], names: ['--prot'] },
    { name: 'config file that does not exist', args: ['--config', missing], names: [missing] },
    { name: 'config file that is not JSON', args: ['--config', badJson], names: [badJson] },
    { name: 'config file that is not an object', args: ['--config', notObject], names: [notObject] },
    { name: 'config file with an unknown key', args: ['--config', unknownKey], names: ['prot'] },
    { name: '--config without a file', args: ['--config'], names: ['--config'] },
    { name: 'certificate without key', args: ['--tls-cert', brokenPem], names: ['--tls-key'] },
    { name: 'key without certificate', args: ['--tls-key', brokenPem], names: ['--tls-cert'] },
    {
      name: 'PEM files that do not parse',
      args: ['--tls-cert', brokenPem, '--tls-key', brokenPem],
      names: ['--tls-cert'],
    },
  );
  return all;
}

/** Runs the CLI for every case, a few at a time. */
async function runAll(all: Case[]): Promise<Map<Case, Awaited<ReturnType<typeof exited>>>> {
  const results = new Map<Case, Awaited<ReturnType<typeof exited>>>();
  const queue = [...all];
  const worker = async () => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      // No other flag or variable is set: each would take precedence over the value under test.
      const child = runBuiltCli(next.args, next.env);
      // A case that wrongly starts a hub is stopped (and reported) after a while: long enough for a
      // loaded machine to start Node and load the keys (5 s was not, at a load average of 20).
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      results.set(next, await exited(child));
      clearTimeout(timer);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return results;
}

beforeAll(ensureBuilt, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('configuration errors', () => {
  test('every option has invalid values under test', () => {
    const untested = OPTIONS.filter((spec) => (INVALID[spec.key] ?? []).length === 0).map((s) => s.key);
    expect(
      untested,
      'add invalid values for these options to INVALID in test/integration/ops/config.test.ts',
    ).toEqual([]);
  });

  test(
    'every invalid value of every option: one line naming it on stderr, exit code 2',
    { timeout: 120_000 },
    async () => {
      const all = cases();
      const results = await runAll(all);
      const failures: string[] = [];
      for (const item of all) {
        const result = results.get(item);
        const lines = (result?.stderr ?? '').split('\n').filter((line) => line !== '');
        const ok =
          result?.code === 2 &&
          lines.length === 1 &&
          lines[0]?.startsWith('ssehub: ') === true &&
          item.names.some((name) => lines[0]?.includes(name)) &&
          !result.stderr.includes(WEBHOOK_SECRET.slice(6)) &&
          result.stdout === '';
        if (!ok)
          failures.push(`${item.name}: exit ${result?.code}, stderr ${JSON.stringify(result?.stderr)}`);
      }
      expect(failures).toEqual([]);
      expect(all.length).toBeGreaterThan(OPTIONS.length * 3);
    },
  );
});

describe('a bad setting is reported before the store is opened', () => {
  test('a config file with a bad key setting exits 2 without creating or locking the default data directory', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'ssehub-config-cwd-'));
    try {
      writeFileSync(join(cwd, 'hub.json'), JSON.stringify({ jwksUrl: 'not a url' }));
      const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
      delete env.SSEHUB_STORE;
      const run = spawnSync(process.execPath, [BUILT_CLI, '--config', 'hub.json'], {
        cwd,
        env,
        encoding: 'utf8',
        timeout: 20_000,
      });
      expect(run.status).toBe(2);
      expect(run.stderr.trim().split('\n')).toHaveLength(1);
      expect(run.stderr).toMatch(/JWKS_URL/);
      expect(existsSync(join(cwd, 'ssehub-data'))).toBe(false);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});

describe('per-topic retention beyond the global bound', () => {
  test('is warned about at start-up, one line per policy; within the bound says nothing', () => {
    const file = join(dir, 'retention.json');
    const topics = {
      'https://example.com/news/{id}': { retainCount: 500, retainAgeMs: 120_000 },
      'https://example.com/small': { retainCount: 10, retainAgeMs: 1000 },
    };
    writeFileSync(file, JSON.stringify({ topics }));
    const argv = ['--config', file, '--history-size', '100', '--history-max-age-ms', '60000'];
    const { config } = loadConfig({ argv, env: {} });
    expect(retentionWarnings(config)).toEqual([
      'topics["https://example.com/news/{id}"]: retainCount 500 is more than --history-size 100 (all topics together); the store keeps at most 100',
      'topics["https://example.com/news/{id}"]: retainAgeMs 120000 is more than --history-max-age-ms 60000; the store keeps events at most 60000 ms',
    ]);
    const within = loadConfig({ argv: ['--config', file, '--history-size', '1000'], env: {} });
    expect(retentionWarnings(within.config)).toEqual([]);
  });
});

describe('--help and the README', () => {
  test('the package bin and `npm start` print every option with its environment variables and default', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      scripts: { start: string };
      bin: Record<string, string>;
    };
    expect(pkg.scripts.start).toMatch(
      new RegExp(`node ${pkg.bin.ssehub?.replace(/^\.\//, '').replace(/\./g, '\\.')}$`),
    );
    const help = execFileSync(process.execPath, [BUILT_CLI, '--help'], { encoding: 'utf8' });
    expect(help.trimEnd()).toBe(helpText());
    for (const spec of OPTIONS) {
      expect(help).toContain(spec.flag);
      for (const name of spec.env) expect(help).toContain(name);
      expect(help).toContain(`default ${spec.defaultText ?? String(spec.default)}`);
    }
  });

  test('the README configuration table is the one generated from the option table', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const match = /<!-- config-table:start -->\n([\s\S]*?)\n<!-- config-table:end -->/.exec(readme);
    expect(
      match,
      'README.md needs the table between <!-- config-table:start --> and <!-- config-table:end -->',
    ).not.toBeNull();
    expect(match?.[1]).toBe(markdownTable());
  });
});
