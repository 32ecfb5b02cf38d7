import type { BackoffOptions } from './types.js';

/**
 * Longest wait a timer can hold: browsers and Node.js fire a longer `setTimeout` at once, which a
 * huge server `retry:` or `Retry-After` would turn into a reconnect loop.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export interface BackoffPolicy {
  initial: number;
  factor: number;
  max: number;
  jitter: number;
  healthyAfter: number;
}

export function backoffPolicy(options: BackoffOptions = {}): BackoffPolicy {
  const policy = {
    initial: options.initial ?? 1000,
    factor: options.factor ?? 2,
    max: options.max ?? 30_000,
    jitter: options.jitter ?? 0.5,
    healthyAfter: options.healthyAfter ?? 5000,
  };
  for (const [name, value] of Object.entries(policy)) {
    if (!Number.isFinite(value) || value < 0) throw new RangeError(`backoff.${name} must be a number ≥ 0`);
  }
  if (policy.factor < 1) throw new RangeError('backoff.factor must be ≥ 1');
  if (policy.jitter > 1) throw new RangeError('backoff.jitter must be between 0 and 1');
  return policy;
}

/**
 * The wait before retry number `attempt` (1-based): the base (the server's `retry:` when it sent one,
 * else `initial`) times `factor^(attempt-1)`, capped at `max` (or at the server's value when that is
 * larger: the server asked for it), minus up to `jitter` of itself; never above `MAX_TIMER_MS`.
 */
export function retryDelay(
  policy: BackoffPolicy,
  attempt: number,
  serverRetry: number | undefined,
  random: () => number,
): number {
  const base = serverRetry ?? policy.initial;
  const cap = Math.max(policy.max, base);
  const grown = Math.min(cap, base * policy.factor ** Math.max(0, attempt - 1));
  return Math.min(MAX_TIMER_MS, Math.round(grown * (1 - policy.jitter * random())));
}

/**
 * How long the spread added to a server's `Retry-After` can be. The header has whole seconds
 * only, so every client a hub refuses in the same second is told the same number: each adds up to
 * one more second, and they come back spread over that second rather than at its start.
 */
export const RETRY_AFTER_SPREAD_MS = 1000;

/**
 * The wait a server's `Retry-After` asks for: at least that, plus up to `RETRY_AFTER_SPREAD_MS` of
 * jitter (none when the policy's `jitter` is 0, or when the server said 0: retry now).
 */
export function retryAfterDelay(policy: BackoffPolicy, retryAfterMs: number, random: () => number): number {
  const spread = retryAfterMs > 0 && policy.jitter > 0 ? random() * RETRY_AFTER_SPREAD_MS : 0;
  return Math.min(MAX_TIMER_MS, Math.round(retryAfterMs + spread));
}
