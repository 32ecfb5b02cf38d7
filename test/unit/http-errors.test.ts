import { describe, expect, it } from 'vitest';
import { answerFor, HttpError } from '../../src/http/errors.js';
import { HubInputError } from '../../src/hub/validate.js';
import { StoreInputError, StoreUnavailableError } from '../../src/store/errors.js';

const failure = { action: 'Event not stored', retryAfterSeconds: 2 };

function answer(error: unknown) {
  const { status, code, message, headers } = answerFor(error, failure);
  return { status, code, message, headers };
}

describe('one mapping from error to HTTP answer', () => {
  it('answers hub and store errors by their code, with their one-line reason', () => {
    expect(answer(new HubInputError('Missing "topic" parameter.'))).toEqual({
      status: 400,
      code: 'invalid_input',
      message: 'Missing "topic" parameter.',
      headers: {},
    });
    expect(answer(new StoreInputError('"id" is reserved.', 'invalid_input'))).toMatchObject({
      status: 400,
      code: 'invalid_input',
    });
    expect(answer(new StoreInputError('"id" "a" is already used.', 'conflict'))).toMatchObject({
      status: 409,
      code: 'conflict',
      message: '"id" "a" is already used.',
    });
  });

  it('answers a store failure 503 with Retry-After, saying what was not done', () => {
    expect(answer(new StoreUnavailableError('Redis unavailable: timeout'))).toEqual({
      status: 503,
      code: 'store_unavailable',
      message: 'Event not stored: Redis unavailable: timeout',
      headers: { 'Retry-After': '2' },
    });
  });

  it('answers an HttpError as it is, its code derived from its status', () => {
    const refusal = new HttpError(429, 'Too many publishes.', { 'Retry-After': '1' });
    expect(answerFor(refusal, failure)).toBe(refusal);
    expect(refusal.code).toBe('rate_limited');
    expect(new HttpError(401, 'No token.').code).toBe('unauthorized');
    expect(new HttpError(503, 'Full.').code).toBe('unavailable');
  });

  it('answers anything else 500 with code internal and no detail', () => {
    expect(answer(new TypeError('x is undefined'))).toEqual({
      status: 500,
      code: 'internal',
      message: 'Event not stored: internal error.',
      headers: {},
    });
    expect(answer('a string')).toMatchObject({ status: 500, code: 'internal' });
  });
});
