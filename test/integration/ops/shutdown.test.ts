import { request } from 'node:http';
import { afterEach, describe, expect, test } from 'vitest';
import { exited, logLines, startHubProcess } from '../../helpers/hub-process.js';
import type { runCli } from '../../helpers/hub-process.js';
import { HUB_PATH, openStream, publish } from '../../helpers/stream-reader.js';
import type { StreamReader } from '../../helpers/stream-reader.js';

const children: ReturnType<typeof runCli>[] = [];
const streams: StreamReader[] = [];

afterEach(() => {
  for (const stream of streams.splice(0)) stream.close();
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

async function hubProcess(args: string[] = []) {
  const started = await startHubProcess(args);
  children.push(started.child);
  return started;
}

async function subscribe(...args: Parameters<typeof openStream>) {
  const stream = await openStream(...args);
  streams.push(stream);
  expect(stream.status).toBe(200);
  return stream;
}

function sequenceOf(id: string): number {
  return Number(id.slice(id.lastIndexOf('-') + 1));
}

describe('graceful shutdown of the ssehub process', () => {
  test('SIGTERM while publishing: every event answered 2xx reached every subscriber before its stream ended', async () => {
    // Debug: a stream's routine end is logged at that level.
    const a = await hubProcess(['--shutdown-timeout-ms', '5000', '--log-level', 'debug']);
    const subscribers = await Promise.all([1, 2, 3].map(() => subscribe(a.url, ['load'])));

    // Four publishers in parallel until the hub stops answering 2xx (bounded in count and time).
    const acknowledged: string[] = [];
    let signalled = false;
    let signalledAt = 0;
    const publisher = async (name: string) => {
      const stopAt = Date.now() + 15_000;
      for (let i = 0; i < 5000 && Date.now() < stopAt; i++) {
        let answer;
        try {
          answer = await publish(a.url, 'load', `${name}-${i}`);
        } catch {
          return; // connection refused: the hub has stopped accepting
        }
        if (answer.status !== 200) {
          expect(answer.status).toBe(503);
          if (!signalled) throw new Error(`refused before shutdown: ${answer.body}`);
          return;
        }
        acknowledged.push(answer.body);
        if (!signalled && acknowledged.length >= 300) {
          signalled = true;
          signalledAt = Date.now();
          a.child.kill('SIGTERM');
        }
      }
    };
    await Promise.all(['p1', 'p2', 'p3', 'p4'].map(publisher));
    const exit = await exited(a.child);
    const shutdownMs = Date.now() - signalledAt;
    expect(signalled).toBe(true);
    expect(exit.code).toBe(0);
    expect(shutdownMs).toBeLessThan(5000 + 2000);
    expect(acknowledged.length).toBeGreaterThanOrEqual(300);

    for (const subscriber of subscribers) {
      expect(await subscriber.ended).toEqual({ clean: true });
      const received = subscriber.events.map((event) => event.lastEventId);
      // Every acknowledged event, once each, in store order.
      expect(new Set(received).size).toBe(received.length);
      for (const id of acknowledged) expect(received).toContain(id);
      const sequence = received.map(sequenceOf);
      expect(sequence).toEqual([...sequence].sort((x, y) => x - y));
    }
    const logs = logLines(exit.stdout);
    expect(logs.some((line) => line.msg === 'shutdown complete')).toBe(true);
    expect(logs.filter((line) => line.msg === 'stream closed: shutdown')).toHaveLength(3);

    // The clients reconnect to another instance. A memory store's history does not survive the
    // process, so the new instance says plainly that it cannot resume, then streams live.
    const b = await hubProcess();
    const resumed = await Promise.all(
      subscribers.map((s) => subscribe(b.url, ['load'], { lastEventId: s.lastEventId })),
    );
    const next = await publish(b.url, 'load', 'on the second instance');
    expect(next.status).toBe(200);
    for (const [index, stream] of resumed.entries()) {
      await stream.waitFor((events) => events.some((e) => e.data === 'on the second instance'));
      const reset = stream.events[0];
      expect(reset?.type).toBe('ssehub-reset');
      expect(JSON.parse(reset?.data ?? '{}')).toMatchObject({
        reason: 'unknown',
        lastEventId: subscribers[index]?.lastEventId,
      });
    }
    b.child.kill('SIGTERM');
    expect((await exited(b.child)).code).toBe(0);
  });

  test('a publish in flight at SIGTERM finishes, is answered 200 and delivered before streams end', async () => {
    const a = await hubProcess(['--shutdown-timeout-ms', '5000']);
    const subscriber = await subscribe(a.url, ['orders']);
    const body = new URLSearchParams({ topic: 'orders', data: 'in flight' }).toString();
    const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(`${a.url}${HUB_PATH}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': body.length },
        agent: false,
      });
      req.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      req.write(body.slice(0, 10));
      // The rest of the body arrives after the signal.
      setTimeout(() => {
        a.child.kill('SIGTERM');
        setTimeout(() => req.end(body.slice(10)), 400);
      }, 200);
    });
    const { status, text } = await answer;
    expect(status).toBe(200);
    expect(await subscriber.ended).toEqual({ clean: true });
    expect(subscriber.events.map((e) => [e.lastEventId, e.data])).toEqual([[text, 'in flight']]);
    expect((await exited(a.child)).code).toBe(0);
  });

  test('SIGINT exits within --shutdown-timeout-ms even when a publish never completes', async () => {
    const a = await hubProcess(['--shutdown-timeout-ms', '800']);
    const subscriber = await subscribe(a.url, ['orders']);
    const stuck = request(`${a.url}${HUB_PATH}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': 100 },
      agent: false,
    });
    const stuckAnswer = new Promise<string>((resolve) => {
      stuck.on('response', (res) => resolve(`answered ${res.statusCode}`));
      stuck.on('error', (error) => resolve(`failed: ${error.message}`));
    });
    stuck.write('topic=orders&data=');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const signalledAt = Date.now();
    a.child.kill('SIGINT');
    const exit = await exited(a.child);
    expect(Date.now() - signalledAt).toBeLessThan(800 + 1500);
    expect(exit.code).toBe(0);
    expect(await stuckAnswer).toMatch(/^failed: /);
    expect(await subscriber.ended).toEqual({ clean: true });
    expect(subscriber.events).toEqual([]);
    const logs = logLines(exit.stdout);
    expect(logs.some((line) => line.msg === 'shutdown: publishes still in flight at the deadline')).toBe(
      true,
    );
  });
});

describe('the ssehub process log', () => {
  test('is written in batches, yet a line reaches stdout within the flush period, not only at exit', async () => {
    const hub = await hubProcess(['--log-level', 'debug']);
    const stream = await subscribe(hub.url, ['logged']);
    const opened = () => logLines(hub.child.output().stdout).some((line) => line.msg === 'stream opened');
    // One line is far below the 4 KB batch: only the periodic flush (250 ms) can write it.
    const deadline = Date.now() + 3000;
    while (!opened() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
    expect(opened()).toBe(true);
    expect(hub.child.exitCode).toBe(null);
    stream.close();
  });
});
