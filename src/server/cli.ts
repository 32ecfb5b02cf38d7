#!/usr/bin/env node
import { isLoopback } from './loopback.js';
import { ConfigError, helpText, loadConfig } from './config.js';
import { KeyConfigError } from '../auth/keys.js';
import { createHubServer } from './app.js';
import { openStore, redactUrl } from './store.js';
import { StoreUnavailableError } from '../store/errors.js';
import type { Store } from '../store/types.js';

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = loadConfig({ argv: process.argv.slice(2), env: process.env });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`ssehub: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  if (parsed.help) {
    process.stdout.write(helpText() + '\n');
    return;
  }
  const { config } = parsed;
  let store: Store;
  try {
    store = await openStore(config);
  } catch (error) {
    if (error instanceof StoreUnavailableError && config.redisUrl !== undefined) {
      process.stderr.write(
        `ssehub: cannot connect to Redis at ${redactUrl(config.redisUrl)}: ${error.message}\n`,
      );
      process.exit(1);
    }
    throw error;
  }
  let hubServer;
  try {
    hubServer = createHubServer({
      config,
      store,
      onError: (error) => process.stderr.write(`ssehub: ${String((error as Error)?.stack ?? error)}\n`),
    });
  } catch (error) {
    if (error instanceof KeyConfigError) {
      process.stderr.write(`ssehub: ${error.message}\n`);
      await store.close();
      process.exit(2);
    }
    throw error;
  }
  const url = await hubServer.listen();
  process.stdout.write(`ssehub listening on ${url} (hub ${url}/.well-known/mercure, ${store.kind} store)\n`);
  if (hubServer.authorization === 'open') {
    const exposure = isLoopback(config.host) ? 'it listens on loopback only' : `it listens on ${config.host}`;
    process.stderr.write(
      `ssehub: warning: no authorization is configured, anyone who can reach the hub may publish and subscribe; ${exposure}\n`,
    );
  } else {
    const subscribers = config.allowAnonymous
      ? 'subscribers without a token see public updates'
      : 'subscribers need a token';
    process.stdout.write(`ssehub: authorization on: publishers need a token, ${subscribers}\n`);
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`ssehub: ${signal} received, closing streams so clients resume elsewhere\n`);
    hubServer.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((error: unknown) => {
  process.stderr.write(`ssehub: ${(error as Error)?.message ?? String(error)}\n`);
  process.exit(1);
});
