import type { IncomingMessage } from 'node:http';
import { expect } from 'vitest';
import { openStream, topicUrl } from './hub.js';
import type { RawStream } from './hub.js';

export interface Answer {
  status: number;
  body: string;
  headers: IncomingMessage['headers'];
}

/** Opens a subscription and, unless it was refused, closes it again; returns the answer. */
export async function trySubscribe(
  hubUrl: string,
  topics: readonly string[],
  headers: Record<string, string> = {},
  query: Record<string, string> = {},
): Promise<Answer & { stream?: RawStream }> {
  const stream = await openStream(topicUrl(hubUrl, topics, query), headers);
  const status = stream.response.statusCode ?? 0;
  if (status === 200) return { status, body: '', headers: stream.response.headers, stream };
  await stream.closed;
  return { status, body: stream.text(), headers: stream.response.headers };
}

/** Asserts a refusal: its status, its one-line reason, and the token error a client can act on. */
export function expectRefused(
  answer: Answer,
  status: number,
  reason: RegExp,
  tokenError?: string | null,
): void {
  expect({ status: answer.status, body: answer.body }).toMatchObject({
    status,
    body: expect.stringMatching(reason),
  });
  expect(answer.body.trimEnd()).not.toContain('\n');
  const challenge = answer.headers['www-authenticate'];
  if (tokenError === undefined) return;
  if (tokenError === null) {
    // RFC 6750: a request without credentials is challenged without an error code.
    expect(challenge).toBe('Bearer realm="ssehub"');
  } else if (status === 401) {
    expect(challenge).toBe(`Bearer realm="ssehub", error="invalid_token", error_description="${tokenError}"`);
  } else {
    expect(challenge).toContain(`error="insufficient_scope", error_description="${tokenError}"`);
  }
}
