export { createHubServer } from './app.js';
export type { HubServer, HubServerOptions } from './app.js';
export { loadConfig, helpText, markdownTable, ConfigError, DEFAULT_CONFIG, OPTIONS } from './config.js';
export type { HubConfig } from './config.js';
