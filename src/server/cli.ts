#!/usr/bin/env node
import { isLoopback } from './loopback.js';
import { ConfigError, helpText, loadConfig, retentionWarnings } from './config.js';
import { StoreOpenError, StoreUnavailableError } from '../store/errors.js';
import type { Store } from '../store/types.js';
import type { WebhookQueue } from '../store/webhook-queue.js';
import type { Logger } from '../ops/logger.js';
import type { HubServer } from './app.js';
import type { HubConfig } from './config.js';

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = loadConfig({ argv: process.argv.slice(2), env: process.env });
  } catch (error) {
    exitOnConfigError(error);
    throw error;
  }
  if (parsed.help) {
    process.stdout.write(helpText() + '\n');
    return;
  }
  const { config } = parsed;
  for (const warning of retentionWarnings(config)) process.stderr.write(`ssehub: warning: ${warning}\n`);
  // Loaded only now, so configuration errors and --help answer at once.
  const [{ createHubServer }, { createLogger }, { KeyConfigError }, { authorizerFromSettings }] =
    await Promise.all([
      import('./app.js'),
      import('../ops/logger.js'),
      import('../auth/keys.js'),
      import('../auth/settings.js'),
    ]);
  const exitOnSettingError = (error: unknown): void => {
    exitOnConfigError(error);
    if (error instanceof KeyConfigError) {
      process.stderr.write(`ssehub: ${error.message}\n`);
      process.exit(2);
    }
  };
  // Keys and URLs are checked before the store is opened: a bad setting must not create or lock a
  // data directory (nor wait for Redis) before saying what is wrong.
  try {
    authorizerFromSettings({ ...config, allowsCredentialsFrom: () => false });
  } catch (error) {
    exitOnSettingError(error);
    throw error;
  }
  const store = await openStoreOrExit(config);
  const webhookQueue = await openWebhookQueueOrExit(config, store);
  const logger = createLogger({ level: config.logLevel });
  let hubServer: HubServer;
  try {
    hubServer = createHubServer({ config, store, logger, webhookQueue });
  } catch (error) {
    await webhookQueue?.close();
    await store.close();
    exitOnSettingError(error);
    throw error;
  }
  const url = await hubServer.listen();
  logger.info(
    { url, hub: `${url}/.well-known/mercure`, store: store.kind, tls: url.startsWith('https') },
    `ssehub listening on ${url} (${store.kind} store)`,
  );
  // Whoever started the hub waits for this line: it is written now, not with the next batch.
  logger.flush();
  await announceAuthorization(hubServer, config, logger);
  stopOnSignals(hubServer, config, logger);
}

/** Opens the configured store; exits 1 when Redis is unreachable, 2 when the store cannot be opened. */
async function openStoreOrExit(config: HubConfig): Promise<Store> {
  const { openStore, redactUrl } = await import('./store.js');
  try {
    return await openStore(config);
  } catch (error) {
    if (error instanceof StoreUnavailableError && config.redisUrl !== undefined) {
      process.stderr.write(
        `ssehub: cannot connect to Redis at ${redactUrl(config.redisUrl)}: ${error.message}\n`,
      );
      process.exit(1);
    }
    if (error instanceof StoreOpenError) {
      process.stderr.write(`ssehub: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
}

/** The webhook queue beside the store (none without webhooks); exits 2 when it cannot be opened. */
async function openWebhookQueueOrExit(config: HubConfig, store: Store): Promise<WebhookQueue | undefined> {
  const { openWebhookQueue } = await import('./store.js');
  try {
    return await openWebhookQueue(config);
  } catch (error) {
    if (!(error instanceof StoreOpenError)) throw error;
    await store.close();
    process.stderr.write(`ssehub: ${error.message}\n`);
    process.exit(2);
  }
}

/** Says how the hub is protected: a warning on stderr (and in the log) when it is open to all. */
async function announceAuthorization(hubServer: HubServer, config: HubConfig, logger: Logger): Promise<void> {
  if (hubServer.authorization === 'open') {
    // On stderr as well as in the log, so it is seen even when stdout goes to a collector.
    const exposure = isLoopback(config.host) ? 'it listens on loopback only' : `it listens on ${config.host}`;
    process.stderr.write(
      `ssehub: warning: no authorization is configured, anyone who can reach the hub may publish and subscribe; ${exposure}\n`,
    );
    return;
  }
  const { keyWarnings } = await import('../auth/settings.js');
  for (const warning of keyWarnings(config)) process.stderr.write(`ssehub: warning: ${warning}\n`);
  logger.info(
    { anonymousSubscribers: config.allowAnonymous },
    config.allowAnonymous
      ? 'authorization on: publishers need a token, subscribers without a token see public updates'
      : 'authorization on: publishers need a token, subscribers need a token',
  );
}

/** SIGTERM and SIGINT drain the hub; a second signal exits at once. */
function stopOnSignals(hubServer: HubServer, config: HubConfig, logger: Logger): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal, timeoutMs: config.shutdownTimeoutMs }, 'signal received: draining');
    // The drain destroys what is left at its deadline; this only guards against a hang after it.
    setTimeout(() => process.exit(1), config.shutdownTimeoutMs + 2000).unref();
    hubServer.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

function exitOnConfigError(error: unknown): void {
  if (error instanceof ConfigError) {
    process.stderr.write(`ssehub: ${error.message}\n`);
    process.exit(2);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`ssehub: ${(error as Error)?.message ?? String(error)}\n`);
  process.exit(1);
});
