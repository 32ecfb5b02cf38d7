import { afterEach, describe, expect, it } from 'vitest';
import { RESET_EVENT_TYPE } from '../../src/protocol/constants.js';
import type { CloseReason } from '../../src/hub/subscriber.js';
import { openStream, publish, startTestHub, topicUrl } from '../helpers/hub.js';
import type { RawStream, TestHub } from '../helpers/hub.js';

/** Issue 17: `skip` and `latest` with a real reader that stops reading its socket, then resumes. */

let hub: TestHub | undefined;
const streams: RawStream[] = [];
afterEach(async () => {
  for (const stream of streams.splice(0)) stream.destroy();
  await hub?.close();
  hub = undefined;
});

const maxBufferedBytes = 256 * 1024;
// Far more than the bound plus what loopback socket buffers hold (several MiB), as in slow-consumer.test.ts.
const payload = 'x'.repeat(64 * 1024);

async function start(topics: Record<string, object>, reasons: CloseReason[]): Promise<TestHub> {
  hub = await startTestHub({
    config: { maxBufferedBytes, heartbeatMs: 0, topics },
    observer: { unsubscribed: (_subscriber, reason) => reasons.push(reason) },
  });
  return hub;
}

/** Opens a stream and stops reading it: TCP backpressure fills the hub's socket, then its bound. */
async function stalled(url: string): Promise<RawStream> {
  const stream = await openStream(url);
  streams.push(stream);
  await stream.waitFor(() => stream.text().length > 0, 5000, 'the opening block');
  stream.response.pause();
  return stream;
}

describe('slow-consumer policies over real sockets (issue 17)', () => {
  it('skip: the reader stays connected, and the reset signal marks exactly what it missed', async () => {
    const reasons: CloseReason[] = [];
    const test = await start({ feed: { slowConsumer: 'skip' } }, reasons);
    const stream = await stalled(topicUrl(test.hubUrl, ['feed']));
    const ids: string[] = [];
    for (let i = 0; i < 400; i++) {
      const answer = await publish(test.hubUrl, { topic: 'feed', data: `${i} ${payload}` });
      ids.push(answer.body);
    }
    expect(reasons).toEqual([]);
    stream.response.resume();
    await stream.waitFor(
      () => stream.events.some((event) => event.type === RESET_EVENT_TYPE),
      10_000,
      'the gap',
    );
    const last = await publish(test.hubUrl, { topic: 'feed', data: 'after' });
    ids.push(last.body);
    await stream.waitFor(() => stream.events.at(-1)?.data === 'after', 10_000, 'the next event');
    // Received ids, with the announced gap filled in, are every published id once, in order.
    const seen: string[] = [];
    for (const event of stream.events) {
      if (event.type !== RESET_EVENT_TYPE) {
        seen.push(event.lastEventId);
        continue;
      }
      const gap = JSON.parse(event.data) as Record<string, unknown>;
      expect(gap).toMatchObject({ reason: 'skipped', lastEventId: seen.at(-1) });
      const from = ids.indexOf(gap.firstSkipped as string);
      const through = ids.indexOf(gap.resumeFrom as string);
      expect(through - from + 1).toBe(gap.skipped);
      seen.push(...ids.slice(from, through + 1));
    }
    expect(seen).toEqual(ids);
    expect(stream.events.filter((event) => event.type === RESET_EVENT_TYPE).length).toBeGreaterThan(0);
    expect(reasons).toEqual([]);
  }, 30_000);

  it('latest: the reader stays connected and, once it reads again, gets the latest value of each topic', async () => {
    const reasons: CloseReason[] = [];
    const test = await start({ 'prices/{symbol}': { mode: 'state', slowConsumer: 'latest' } }, reasons);
    const stream = await stalled(topicUrl(test.hubUrl, ['prices/{symbol}']));
    for (let i = 0; i < 200; i++) {
      for (const symbol of ['A', 'B']) {
        await publish(test.hubUrl, { topic: `prices/${symbol}`, data: `${symbol}${i} ${payload}` });
      }
    }
    expect(reasons).toEqual([]);
    stream.response.resume();
    const last = (symbol: string) =>
      [...stream.events].reverse().find((event) => event.data.startsWith(symbol));
    await stream.waitFor(
      () => last('A')?.data.startsWith('A199 ') === true && last('B')?.data.startsWith('B199 ') === true,
      10_000,
      'the latest values',
    );
    const values = stream.events.map((event) => event.data.split(' ')[0] as string);
    expect(values.length).toBeLessThan(400); // some updates were coalesced away
    for (const symbol of ['A', 'B']) {
      const versions = values
        .filter((value) => value.startsWith(symbol))
        .map((value) => Number(value.slice(1)));
      for (let i = 1; i < versions.length; i++)
        expect(versions[i]).toBeGreaterThan(versions[i - 1] as number);
    }
    expect(stream.events.some((event) => event.type === RESET_EVENT_TYPE)).toBe(false);
    expect(reasons).toEqual([]);
  }, 30_000);
});
