import { Writable } from 'node:stream';
import { describe, expect, test } from 'vitest';
import { createLogger } from '../../../src/ops/logger.js';
import { createHubServer } from '../../../src/server/app.js';
import { HS_SECRET, hmacKey, mint } from '../../helpers/tokens.js';
import { openStream, publish } from '../../helpers/stream-reader.js';
import { eventually } from '../../helpers/wait.js';

/** A pino destination keeping each JSON line. */
function memoryDestination(): { lines: Record<string, unknown>[]; stream: Writable } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n'))
        if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, stream };
}

describe('structured logs', () => {
  test('streams are logged with request id, subject, topic count and the reason they ended', async () => {
    const { lines, stream } = memoryDestination();
    const logger = createLogger({ level: 'debug', pretty: false, destination: stream });
    const hub = createHubServer({
      config: { port: 0, demo: false, jwtKey: HS_SECRET, allowAnonymous: true },
      logger,
    });
    const url = await hub.listen();
    try {
      const token = await mint(hmacKey(), { sub: 'user-42', mercure: { subscribe: ['*'] } });
      const reader = await openStream(url, ['urn:a', 'urn:b'], {
        headers: { Authorization: `Bearer ${token}`, 'X-Request-Id': 'req-abc' },
      });
      expect(reader.status).toBe(200);
      expect(reader.headers['x-request-id']).toBe('req-abc');
      const opened = lines.find((line) => line.msg === 'stream opened');
      expect(opened).toMatchObject({
        level: 'debug',
        service: 'ssehub',
        requestId: 'req-abc',
        subject: 'user-42',
        topicCount: 2,
      });
      expect(typeof opened?.time).toBe('string');
      reader.close();
      await eventually(() => lines.some((line) => line.msg === 'stream closed: client'));
      const closed = lines.find((line) => line.msg === 'stream closed: client');
      expect(closed).toMatchObject({
        requestId: 'req-abc',
        subject: 'user-42',
        topicCount: 2,
        reason: 'client',
      });
      // From the subscriber's own opening time (SubscriberView.openedAt): never negative, never huge.
      expect(closed?.durationMs).toBeGreaterThanOrEqual(0);
      expect(closed?.durationMs).toBeLessThan(60_000);

      // A refused request is logged with its status and a generated id, never with its query string.
      const refused = await publish(url, 'urn:a', 'no token');
      expect(refused.status).toBe(401);
      const refusal = lines.find((line) => line.msg === 'request refused');
      expect(refusal).toMatchObject({ method: 'POST', path: '/.well-known/mercure', status: 401 });
      expect(refusal?.requestId).toMatch(/^[A-Za-z0-9_-]{8}-[0-9a-z]+$/);
      // Publishes carry their id in the answer, accepted or refused, like every other request.
      const publisher = await mint(hmacKey(), { mercure: { publish: ['*'] } });
      for (const [status, headers] of [
        [401, { 'X-Request-Id': 'pub-0' }],
        [200, { Authorization: `Bearer ${publisher}`, 'X-Request-Id': 'pub-1' }],
        [
          415,
          { Authorization: `Bearer ${publisher}`, 'X-Request-Id': 'pub-2', 'Content-Type': 'text/plain' },
        ],
      ] as const) {
        const answer = await fetch(`${url}/.well-known/mercure`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
          body: 'topic=urn%3Aa&data=x',
        });
        expect(answer.status).toBe(status);
        expect(answer.headers.get('x-request-id')).toBe(headers['X-Request-Id']);
      }
      // Each is logged under its id: the accepted one as a debug line, the refused ones at info.
      for (const [requestId, level, msg] of [
        ['pub-0', 'info', 'request refused'],
        ['pub-1', 'debug', 'request'],
        ['pub-2', 'info', 'request refused'],
      ]) {
        const line = lines.find((entry) => entry.requestId === requestId && entry.msg === msg);
        expect(line).toMatchObject({ level, method: 'POST', path: '/.well-known/mercure' });
      }

      // An unsafe caller-supplied id is replaced, not echoed.
      const response = await fetch(`${url}/healthz`, { headers: { 'X-Request-Id': 'bad id\u00e9' } });
      const generated = response.headers.get('x-request-id');
      expect(generated).toMatch(/^[A-Za-z0-9_-]{8}-[0-9a-z]+$/);
      expect(generated).not.toBe(refusal?.requestId);

      const shutdown = hub.close(2000);
      const anonymous = lines.length;
      await shutdown;
      expect(lines.slice(anonymous).some((line) => line.msg === 'shutdown complete')).toBe(true);
    } finally {
      await hub.close(1000);
    }
  });

  test('in a terminal the same logs are one readable line each', async () => {
    let output = '';
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        output += chunk.toString();
        done();
      },
    });
    const logger = createLogger({ pretty: true, destination: stream });
    logger.info({ requestId: 'req-1', reason: 'slow' }, 'stream closed: slow');
    await eventually(() => output.includes('\n'));
    const plain = output.replace(/\u001b\[[0-9;]*m/g, '');
    expect(plain).toMatch(
      /^\[\d{2}:\d{2}:\d{2}\.\d{3}\] INFO: stream closed: slow \{"requestId":"req-1","reason":"slow"\}\n$/,
    );
  });
});
