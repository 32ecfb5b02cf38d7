export { createHubServer } from './app.js';
export type { HubServer, HubServerOptions } from './app.js';
export { loadConfig, helpText, markdownTable, ConfigError, DEFAULT_CONFIG, OPTIONS } from './config.js';
export type { HubConfig } from './config.js';
export { createLogger } from '../ops/logger.js';
export type { Logger, LoggerOptions, LogLevel } from '../ops/logger.js';
export { HubMetrics } from '../ops/metrics.js';
export type { Readiness } from '../ops/health.js';
export type { HubStatus } from '../ops/status.js';
