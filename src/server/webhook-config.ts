import { readFileSync } from 'node:fs';
import { PRESENCE_EVENT_TYPES, WebhookConfigError, resolveEndpoints } from '../webhooks/settings.js';
import type { WebhookEndpoint } from '../webhooks/settings.js';
import type { WebhooksOptions } from '../webhooks/webhooks.js';

/** The config file's `webhooks` section, checked (docs/operations.md, "Webhooks"). */
export type WebhooksConfig = { endpoints: WebhookEndpoint[] } & Pick<
  WebhooksOptions,
  'maxQueued' | 'timeoutMs' | 'concurrency' | 'retryBaseMs' | 'retryMaxMs' | 'maxAgeMs'
>;

type Limit = keyof Omit<WebhooksConfig, 'endpoints'>;

/** Bounds of each number: past them is surely a mistake (a unit, a zero too many). */
const LIMITS: Record<Limit, readonly [number, number]> = {
  maxQueued: [1, 10_000_000],
  timeoutMs: [100, 600_000],
  concurrency: [1, 256],
  retryBaseMs: [1, 3_600_000],
  retryMaxMs: [1, 24 * 3600 * 1000],
  maxAgeMs: [1000, 30 * 24 * 3600 * 1000],
};

/** Reads the section; throws WebhookConfigError with one line naming the field, never a secret. */
export function webhooksSection(section: unknown): WebhooksConfig {
  if (section === null || typeof section !== 'object' || Array.isArray(section)) {
    throw new WebhookConfigError('webhooks: expected an object like {"endpoints": [...]}');
  }
  const fields = section as Record<string, unknown>;
  const known = ['endpoints', ...Object.keys(LIMITS)];
  for (const key of Object.keys(fields)) {
    if (!known.includes(key)) {
      throw new WebhookConfigError(`webhooks: unknown field "${key}" (known: ${known.join(', ')})`);
    }
  }
  const config: WebhooksConfig = { endpoints: endpointsWithSecrets(fields.endpoints) };
  for (const [key, [min, max]] of Object.entries(LIMITS) as [Limit, readonly [number, number]][]) {
    const value = fields[key];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
      throw new WebhookConfigError(`webhooks.${key}: expected an integer from ${min} to ${max}`);
    }
    config[key] = value;
  }
  if ((config.retryMaxMs ?? Infinity) < (config.retryBaseMs ?? 1000)) {
    throw new WebhookConfigError('webhooks.retryMaxMs: must be at least retryBaseMs');
  }
  resolveEndpoints(config.endpoints);
  return config;
}

/** Whether an endpoint asks for presence events (the hub must then track subscriptions). */
export function wantsPresence(config: WebhooksConfig): boolean {
  return config.endpoints.some((endpoint) => endpoint.events.some((type) => PRESENCE_EVENT_TYPES.has(type)));
}

/** The endpoints with `"secret": "@file"` read from the file (trimmed), so the file need not hold it. */
function endpointsWithSecrets(endpoints: unknown): WebhookEndpoint[] {
  if (!Array.isArray(endpoints) || endpoints.length === 0) {
    throw new WebhookConfigError('webhooks.endpoints: expected a non-empty array of endpoints');
  }
  return endpoints.map((endpoint: unknown, index) => {
    if (endpoint === null || typeof endpoint !== 'object') return endpoint as WebhookEndpoint;
    const secret = (endpoint as { secret?: unknown }).secret;
    if (typeof secret !== 'string' || !secret.startsWith('@')) return endpoint as WebhookEndpoint;
    const file = secret.slice(1);
    try {
      return { ...(endpoint as WebhookEndpoint), secret: readFileSync(file, 'utf8').trim() };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'error';
      throw new WebhookConfigError(`webhooks.endpoints[${index}].secret: cannot read ${file}: ${code}`);
    }
  });
}
