/** `ssehub/server`: the standalone hub, to embed or to start from your own script. */

/** The standalone hub: the Mercure endpoint, health, metrics, status and the demo page. */
export { createHubServer } from './app.js';
/** A running standalone hub: its server, hub, metrics, readiness, `listen()` and `close()`. */
export type { HubServer } from './app.js';
/** What `createHubServer` takes: configuration, store, authorizer, observer, logger. */
export type { HubServerOptions } from './app.js';
/** Reads the configuration from flags, environment and an optional JSON file. */
export { loadConfig } from './config.js';
/** Every setting of the standalone hub. */
export type { HubConfig } from './config.js';
/** Thrown for a bad setting, with one line naming it. */
export { ConfigError } from './config.js';
/** Structured JSON logs (pino), optionally pretty. */
export { createLogger } from '../ops/logger.js';
/** A logger. */
export type { Logger } from '../ops/logger.js';
/** The logger's settings. */
export type { LoggerOptions } from '../ops/logger.js';
/** A log level. */
export type { LogLevel } from '../ops/logger.js';
/** Prometheus metrics of a hub: its observer, and `render()` for `/metrics`. */
export { HubMetrics } from '../ops/metrics.js';
/** Whether the hub is ready, and the one-line reason. */
export type { Readiness } from '../ops/health.js';
/** The `/status` snapshot. */
export type { HubStatus } from '../ops/status.js';
