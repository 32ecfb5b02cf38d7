import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { openStream, rawRequest, startTestHub, topicUrl } from '../helpers/hub.js';
import type { RawStream, TestHub } from '../helpers/hub.js';

/**
 * Issue 11, item 10: the publish form's declared charset is honoured (percent-escapes are bytes in
 * that charset) or refused with 415; UTF-8 stays the default.
 */
const TOPIC = 'https://example.com/charset';

let hub: TestHub;
let stream: RawStream;

beforeEach(async () => {
  hub = await startTestHub({ config: { demo: false } });
  stream = await openStream(topicUrl(hub.hubUrl, [TOPIC]));
});
afterEach(async () => {
  stream.destroy();
  await hub.close(1000);
});

function post(contentType: string, body: string | Buffer) {
  return rawRequest(hub.hubUrl, { method: 'POST', headers: { 'Content-Type': contentType }, body });
}

async function received(): Promise<string | undefined> {
  await stream.waitFor(() => stream.events.length > 0, 5000, 'the event');
  return stream.events[0]?.data;
}

describe('publish form charset', () => {
  test.each([
    ['ISO-8859-1', 'caf%E9+cr%E8me', 'café crème'],
    ['iso-8859-1', 'caf%E9', 'café'],
    // 0x80 is € in windows-1252 (and in what browsers send for "ISO-8859-1").
    ['windows-1252', '%80+5', '€ 5'],
    ['"windows-1252"', '%93quoted%94', '\u201cquoted\u201d'],
    ['latin1', 'na%EFve', 'naïve'],
  ])('charset=%s decodes percent-escaped bytes in that charset', async (charset, data, expected) => {
    const answer = await post(
      `application/x-www-form-urlencoded; charset=${charset}`,
      `topic=${encodeURIComponent(TOPIC)}&data=${data}`,
    );
    expect(answer.status, answer.body).toBe(200);
    expect(await received()).toBe(expected);
  });

  test('unescaped bytes of the body are in the declared charset too', async () => {
    const body = Buffer.concat([
      Buffer.from(`topic=${encodeURIComponent(TOPIC)}&data=caf`, 'latin1'),
      Buffer.from([0xe9]),
    ]);
    const answer = await post('application/x-www-form-urlencoded;charset=ISO-8859-1', body);
    expect(answer.status, answer.body).toBe(200);
    expect(await received()).toBe('café');
  });

  test.each(['utf-8', 'UTF-8', '"utf-8"', 'utf8', 'unicode-1-1-utf-8'])(
    'charset=%s is UTF-8',
    async (charset) => {
      const answer = await post(
        `application/x-www-form-urlencoded; charset=${charset}`,
        `topic=${encodeURIComponent(TOPIC)}&data=caf%C3%A9`,
      );
      expect(answer.status, answer.body).toBe(200);
      expect(await received()).toBe('café');
    },
  );

  test('without a charset the form is UTF-8', async () => {
    const answer = await post(
      'application/x-www-form-urlencoded',
      `topic=${encodeURIComponent(TOPIC)}&data=%E2%82%AC`,
    );
    expect(answer.status, answer.body).toBe(200);
    expect(await received()).toBe('€');
  });

  test.each([
    ['x-klingon', 'unknown'],
    ['', 'empty'],
    ['utf-16le', 'not ASCII-compatible'],
    ['UTF-16', 'not ASCII-compatible'],
    // WHATWG maps these to the "replacement" encoding, which decodes nothing.
    ['iso-2022-kr', 'replacement'],
  ])('charset=%s (%s) is refused with 415 and one line, and nothing is published', async (charset) => {
    const answer = await post(
      `application/x-www-form-urlencoded; charset=${charset}`,
      `topic=${encodeURIComponent(TOPIC)}&data=refused`,
    );
    expect(answer.status).toBe(415);
    expect(answer.body).toMatch(/^Unsupported charset .*\n$/);
    expect(answer.body.trimEnd()).not.toContain('\n');
    const accepted = await post(
      'application/x-www-form-urlencoded',
      `topic=${encodeURIComponent(TOPIC)}&data=next`,
    );
    expect(accepted.status).toBe(200);
    expect(await received()).toBe('next');
  });
});
