import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * The public API, pinned: every name each entry point of package.json `exports` offers, values and
 * types. Growing it is a decision: add the name here in the same change, with its line of TSDoc.
 */
const PUBLIC_API: Record<string, readonly string[]> = {
  ssehub: [
    'ActiveSubscription',
    'CloseReason',
    'DeliveryMode',
    'EARLIEST',
    'ErrorCode',
    'EventInput',
    'HistoryPage',
    'Hub',
    'HubInputError',
    'HubObserver',
    'HubOptions',
    'HubStats',
    'IdempotencyClaim',
    'LatestPage',
    'LatestRequest',
    'LiveListener',
    'MemoryStore',
    'MemoryStoreOptions',
    'PageRequest',
    'PolicyError',
    'PresenceChange',
    'PresenceEvent',
    'PresenceLeases',
    'PresenceOptions',
    'PresenceStats',
    'PublishInput',
    'PublishOptions',
    'RESET_EVENT_TYPE',
    'ResetSignal',
    'ResumeFailure',
    'ResumePoint',
    'SlowConsumerPolicy',
    'SsehubError',
    'StateRequest',
    'StateSnapshot',
    'Store',
    'StoreInputError',
    'StoreUnavailableError',
    'StoredEvent',
    'SubscribeOptions',
    'SubscriberSink',
    'SubscriberView',
    'Subscription',
    'SubscriptionStart',
    'SuppliedState',
    'TopicPolicies',
    'TopicPolicy',
    'WebhookConfigError',
    'WebhookEndpoint',
    'WebhookEventType',
    'WebhookObserver',
    'WebhookQueue',
    'Webhooks',
    'WebhooksOptions',
    'createWebhooks',
  ],
  'ssehub/redis': ['RedisStore', 'RedisStoreOptions', 'RedisWebhookQueue', 'RedisWebhookQueueOptions'],
  'ssehub/sqlite': [
    'DATABASE_FILE',
    'SYNC_LEVELS',
    'SqliteStore',
    'SqliteStoreOptions',
    'SqliteWebhookQueue',
    'SqliteWebhookQueueOptions',
    'StoreOpenError',
    'SyncLevel',
  ],
  'ssehub/client': [
    'BackoffOptions',
    'ClientEvent',
    'ClientOptions',
    'ClientState',
    'Clock',
    'EventMap',
    'JOINED_SHARED_STREAM',
    'LastEventIdStorage',
    'OnlineEventSource',
    'Reason',
    'ResetNotice',
    'ShareOptions',
    'SseClient',
    'StateChange',
    'TokenProvider',
    'createClient',
    'subscriptionUrl',
  ],
  'ssehub/react': ['EventStream', 'UseEventStreamOptions', 'useEventStream'],
  'ssehub/protocol': [
    'EventStreamParser',
    'EventTooLargeError',
    'ParsedEvent',
    'ParserHandlers',
    'ParserOptions',
    'SseFieldError',
    'SseMessage',
    'encodeComment',
    'encodeMessage',
  ],
  'ssehub/http': [
    'Authorizer',
    'BodyBudget',
    'DISCONNECT_PATH',
    'DisconnectHandlerOptions',
    'HttpError',
    'HubRequest',
    'MERCURE_PATH',
    'MercureHandlerOptions',
    'PublishHandlerOptions',
    'RequestHandler',
    'RevocationSink',
    'SUBSCRIPTIONS_PATH',
    'SubscribeHandlerOptions',
    'SubscriberGrant',
    'SubscriptionsHandlerOptions',
    'createDisconnectHandler',
    'createMercureHandler',
    'createPublishHandler',
    'createSubscribeHandler',
    'createSubscriptionsHandler',
    'openAccess',
  ],
  'ssehub/fetch': ['FetchHandler', 'FetchHandlerOptions', 'createFetchHandler'],
  'ssehub/auth': [
    'ACCESS_TOKEN_COOKIE',
    'AuthSettings',
    'JwtAuthorizer',
    'JwtAuthorizerOptions',
    'KeyConfigError',
    'KeySetUnavailableError',
    'TOKEN_COOKIE',
    'TokenProblem',
    'TokenRejectedError',
    'TokenVerifier',
    'VerificationKey',
    'VerifierOptions',
    'authorizerFromSettings',
    'jwksVerifier',
    'keyVerifier',
    'parseVerificationKey',
  ],
  'ssehub/server': [
    'ConfigError',
    'HubConfig',
    'HubMetrics',
    'HubServer',
    'HubServerOptions',
    'HubStatus',
    'LogLevel',
    'Logger',
    'LoggerOptions',
    'Readiness',
    'createHubServer',
    'createLogger',
    'loadConfig',
  ],
};

const ROOT = join(import.meta.dirname, '..', '..');
const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  exports: Record<string, { 'ssehub-source': string }>;
};
/** Entry point name (`ssehub/http`) → its TypeScript source. */
const ENTRIES = new Map(
  Object.entries(manifest.exports).map(([subpath, targets]) => [
    subpath === '.' ? 'ssehub' : `ssehub/${subpath.slice(2)}`,
    join(ROOT, targets['ssehub-source']),
  ]),
);

/** Every name an entry point exports, values and types, as TypeScript sees them. */
function exportedNames(): Map<string, string[]> {
  const program = ts.createProgram([...ENTRIES.values()], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: ['node'],
    customConditions: ['ssehub-source'],
  });
  const checker = program.getTypeChecker();
  const names = new Map<string, string[]>();
  for (const [entry, file] of ENTRIES) {
    const module = checker.getSymbolAtLocation(program.getSourceFile(file) as ts.SourceFile);
    names.set(entry, module ? checker.getExportsOfModule(module).map((symbol) => symbol.name) : []);
  }
  return names;
}

function sorted(names: readonly string[]): string[] {
  return [...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

describe('public API', () => {
  it('every entry point of package.json has a pinned list of exports', () => {
    expect(sorted([...ENTRIES.keys()])).toEqual(sorted(Object.keys(PUBLIC_API)));
  });

  it('each entry point exports exactly its pinned names', () => {
    const names = exportedNames();
    for (const [entry, expected] of Object.entries(PUBLIC_API)) {
      expect(sorted(names.get(entry) ?? []), entry).toEqual(sorted(expected));
    }
  });

  it('what an entry point offers at run time is among its pinned names', async () => {
    for (const [entry, file] of ENTRIES) {
      const runtime = Object.keys((await import(file)) as object);
      expect(runtime.length, entry).toBeGreaterThan(0);
      expect(
        runtime.filter((name) => !PUBLIC_API[entry]?.includes(name)),
        entry,
      ).toEqual([]);
    }
  });

  it('every export carries a line of TSDoc', () => {
    for (const [entry, file] of ENTRIES) {
      const lines = readFileSync(file, 'utf8').split('\n');
      const undocumented = lines.filter(
        (line, i) => line.startsWith('export ') && !(lines[i - 1] ?? '').trimEnd().endsWith('*/'),
      );
      expect(undocumented, entry).toEqual([]);
    }
  });

  it('importing the root entry point loads neither ioredis nor SQLite; their own entry points do', () => {
    const loads = (entry: string, dependency: string): string => {
      const script = [
        `await import('${entry}');`,
        "const { createRequire } = await import('node:module');",
        'const cache = createRequire(import.meta.url).cache;',
        `console.log(Object.keys(cache).some((path) => path.includes('/node_modules/${dependency}/')));`,
      ].join('\n');
      const run = spawnSync(
        process.execPath,
        ['--conditions=ssehub-source', '--import', 'tsx', '--input-type=module', '-e', script],
        { cwd: ROOT, encoding: 'utf8' },
      );
      expect(run.stderr).toBe('');
      return run.stdout.trim();
    };
    expect(loads('ssehub', 'ioredis')).toBe('false');
    expect(loads('ssehub', 'better-sqlite3')).toBe('false');
    expect(loads('ssehub/redis', 'ioredis')).toBe('true');
    expect(loads('ssehub/sqlite', 'better-sqlite3')).toBe('true');
  });
});
