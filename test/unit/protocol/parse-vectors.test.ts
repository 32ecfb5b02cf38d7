/**
 * Parser vectors written from the WHATWG rules (HTML §9.2.5–9.2.6) and modelled on three external
 * suites: web-platform-tests `eventsource/format-*` (the byte streams their `message.py` sends, i.e.
 * the test's message plus its newline framing), LaunchDarkly's sse-contract-tests parsing / BOM /
 * line-feed names, and eventsource-parser's CR-split and NUL-id cases. Every vector is fed whole,
 * byte by byte, code unit by code unit (string input), and in seeded random splits; all feeds must
 * agree with the expectation.
 */
import { describe, expect, it } from 'vitest';
import { EventStreamParser } from '../../../src/protocol/index.js';
import { byteByByte, fuzzSeeds, randomSplit, seededRandom } from '../../helpers/random.js';
import { parseChunks, utf8 } from '../../helpers/parse.js';
import type { ParseOutcome } from '../../helpers/parse.js';

interface ExpectedEvent {
  data: string;
  type?: string;
  lastEventId?: string;
}

interface Vector {
  name: string;
  /** Text sent as UTF-8, or raw bytes when the vector needs invalid UTF-8. */
  input: string | Uint8Array;
  events: ExpectedEvent[];
  retries?: number[];
  comments?: string[];
  lastEventId?: string;
  initialLastEventId?: string;
}

/** WPT's message.py appends "\n\n" then "\n" unless `newline=none`, when only "\n" follows. */
const wpt = (message: string): string => `${message}\n\n\n`;
const wptNoNewline = (message: string): string => `${message}\n`;
const longComment = 'x'.repeat(2048);

const vectors: Vector[] = [
  // --- web-platform-tests eventsource/format-* and event-data ---
  {
    name: 'wpt format-bom: only the leading BOM is stripped; a later one makes an unknown field',
    input: wpt('\uFEFFdata:1\n\n\uFEFFdata:2\n\ndata:3'),
    events: [{ data: '1' }, { data: '3' }],
  },
  {
    name: 'wpt format-bom-2: a second BOM at the start is part of the field name',
    input: wpt('\uFEFF\uFEFFdata:1\n\ndata:2\n\ndata:3'),
    events: [{ data: '2' }, { data: '3' }],
  },
  {
    name: 'wpt format-comments: comments with NUL, CR, CRLF and long text between data lines',
    input: wptNoNewline(
      `data:1\r:\0\n:\r\ndata:2\n:${longComment}\rdata:3\n:data:fail\r:${longComment}\ndata:4\n`,
    ),
    events: [{ data: '1\n2\n3\n4' }],
    comments: ['\0', '', longComment, 'data:fail', longComment],
  },
  {
    name: 'wpt format-data-before-final-empty-line: the unterminated last block is dropped with its id',
    input: wptNoNewline('retry:1000\ndata:test1\n\nid:test\ndata:test2'),
    events: [{ data: 'test1', lastEventId: '' }],
    retries: [1000],
    lastEventId: '',
  },
  {
    name: 'wpt format-field-data: `data:` gives "", two bare `data` lines give "\\n"',
    input: wpt('data:\n\ndata\ndata\n\ndata:test'),
    events: [{ data: '' }, { data: '\n' }, { data: 'test' }],
  },
  {
    name: 'wpt format-field-event: custom type, then the default type again',
    input: wpt('event:test\ndata:x\n\ndata:x'),
    events: [
      { type: 'test', data: 'x' },
      { type: 'message', data: 'x' },
    ],
  },
  {
    name: 'wpt format-field-event-empty: `event: ` means message',
    input: wpt('event: \ndata:data'),
    events: [{ type: 'message', data: 'data' }],
  },
  {
    name: 'wpt format-field-id: a non-ASCII id is kept as the last event id',
    input: wpt('id: …\ndata: hello'),
    events: [{ data: 'hello', lastEventId: '…' }],
    lastEventId: '…',
  },
  {
    name: 'wpt format-field-id-2: the id persists across a reconnection (parser seeded with it)',
    initialLastEventId: '…',
    input: wpt('data: …'),
    events: [{ data: '…', lastEventId: '…' }],
    lastEventId: '…',
  },
  {
    name: 'wpt format-field-id-3 (persists): an id stays for later events without one',
    input: 'id: 1\ndata: a\n\ndata: b\n\n',
    events: [
      { data: 'a', lastEventId: '1' },
      { data: 'b', lastEventId: '1' },
    ],
  },
  {
    name: 'wpt format-field-id-3 (changes and persists)',
    input: 'id: 1\ndata: a\n\nid: 2\ndata: b\n\ndata: c\n\n',
    events: [
      { data: 'a', lastEventId: '1' },
      { data: 'b', lastEventId: '2' },
      { data: 'c', lastEventId: '2' },
    ],
  },
  {
    name: 'wpt format-field-id-3 (resets): `id:` with no value resets it for later events too',
    input: 'id: 1\ndata: a\n\nid:\ndata: b\n\ndata: c\n\n',
    events: [
      { data: 'a', lastEventId: '1' },
      { data: 'b', lastEventId: '' },
      { data: 'c', lastEventId: '' },
    ],
    lastEventId: '',
  },
  {
    name: 'wpt format-field-id-null: an id containing NUL is ignored entirely',
    input: wpt('id: \0\0\ndata: hello'),
    events: [{ data: 'hello', lastEventId: '' }],
    lastEventId: '',
  },
  {
    name: 'wpt format-field-parsing: exact field names, one space stripped, NUL in data kept',
    input: wptNoNewline(
      'data:\0\ndata:  2\rData:1\ndata\0:2\ndata:1\r\0data:4\nda-ta:3\rdata_5\ndata:3\rdata:\r\n data:32\ndata:4\n',
    ),
    events: [{ data: '\0\n 2\n1\n3\n\n4' }],
  },
  {
    name: 'wpt format-field-retry: `02000` is decimal 2000',
    input: wpt('retry:02000\ndata:x'),
    events: [{ data: 'x' }],
    retries: [2000],
  },
  {
    name: 'wpt format-field-retry-bogus: `1000x` is ignored and the earlier value stays',
    input: wpt('retry:2000\nretry:1000x\ndata:x'),
    events: [{ data: 'x' }],
    retries: [2000],
  },
  {
    name: 'wpt format-field-retry-empty: `retry` with no value is ignored',
    input: wpt('retry\ndata:test'),
    events: [{ data: 'test' }],
    retries: [],
  },
  {
    name: 'wpt format-field-unknown: unknown fields, a leading-space field name and bare text',
    input: wpt('data:test\n data\ndata\nfoobar:xxx\njustsometext\n:thisisacommentyay\ndata:test'),
    events: [{ data: 'test\n\ntest' }],
    comments: ['thisisacommentyay'],
  },
  {
    name: 'wpt format-leading-space: a TAB is kept, exactly one space is removed, CR ends a line',
    input: wpt('data:\ttest\rdata: \ndata:test'),
    events: [{ data: '\ttest\n\ntest' }],
  },
  {
    name: 'wpt format-newlines: CRLF, LF and CR mixed in one stream',
    input: wptNoNewline('data:test\r\ndata\ndata:test\r\n\r'),
    events: [{ data: 'test\n\ntest' }],
  },
  {
    name: 'wpt format-null-character: NUL inside data is delivered',
    input: wpt('data:\0\n'),
    events: [{ data: '\0' }],
  },
  {
    name: 'wpt format-utf-8: always UTF-8, whatever the charset says',
    input: new Uint8Array([...utf8('data:ok'), 0xe2, 0x80, 0xa6, 0x0a, 0x0a, 0x0a]),
    events: [{ data: 'ok…' }],
  },
  {
    name: 'wpt event-data: multi-line, empty and plain events in order',
    input: 'data:msg\ndata:msg\n\ndata:\n\ndata:end\n\n',
    events: [{ data: 'msg\nmsg' }, { data: '' }, { data: 'end' }],
  },
  {
    name: 'spec example: "data\\n\\ndata\\ndata\\n\\ndata:" gives "", "\\n" and drops the tail',
    input: 'data\n\ndata\ndata\n\ndata:',
    events: [{ data: '' }, { data: '\n' }],
  },

  // --- LaunchDarkly sse-contract-tests: basic parsing ---
  { name: 'ld: one-line message', input: 'data: hello\n\n', events: [{ data: 'hello' }] },
  {
    name: 'ld: multi-line message',
    input: 'data: first\ndata: second\ndata: third\n\n',
    events: [{ data: 'first\nsecond\nthird' }],
  },
  { name: 'ld: empty data', input: 'data:\n\n', events: [{ data: '' }] },
  {
    name: 'ld: event with type and id',
    input: 'event: greeting\nid: abc\ndata: hi\n\n',
    events: [{ type: 'greeting', data: 'hi', lastEventId: 'abc' }],
    lastEventId: 'abc',
  },
  {
    name: 'ld: fields in reverse order',
    input: 'data: hi\nid: abc\nevent: greeting\n\n',
    events: [{ type: 'greeting', data: 'hi', lastEventId: 'abc' }],
  },
  {
    name: 'ld: ID ignored if it contains a null, the previous one survives',
    input: 'id: 1\ndata: a\n\nid: 2\0x\ndata: b\n\n',
    events: [
      { data: 'a', lastEventId: '1' },
      { data: 'b', lastEventId: '1' },
    ],
    lastEventId: '1',
  },
  {
    name: 'ld: last ID persists across events without an id',
    input: 'id: 1\ndata: a\n\ndata: b\n\nevent: x\ndata: c\n\n',
    events: [
      { data: 'a', lastEventId: '1' },
      { data: 'b', lastEventId: '1' },
      { type: 'x', data: 'c', lastEventId: '1' },
    ],
  },
  {
    name: 'ld: last ID can be overridden by an empty value',
    input: 'id: 1\ndata: a\n\nid:\ndata: b\n\nid: 3\ndata: c\n\nid\ndata: d\n\n',
    events: [
      { data: 'a', lastEventId: '1' },
      { data: 'b', lastEventId: '' },
      { data: 'c', lastEventId: '3' },
      { data: 'd', lastEventId: '' },
    ],
    lastEventId: '',
  },
  {
    name: 'ld: unknown fields are ignored',
    input: 'data: a\nfoo: bar\nretryx: 5\nData: no\n\n',
    events: [{ data: 'a' }],
  },
  {
    name: 'ld: fields with and without a leading space; only one space is removed',
    input: 'data:a\ndata: b\ndata:  c\nevent:  spaced\n\n',
    events: [{ type: ' spaced', data: 'a\nb\n c' }],
  },
  {
    name: 'ld: field name with no colon',
    input: 'data\n\nevent\ndata\n\n',
    events: [{ data: '' }, { type: 'message', data: '' }],
  },
  {
    name: 'ld: multi-byte characters (split byte by byte in the chunked feeds)',
    input: 'data: €😀中\u{10FFFF}\n\n',
    events: [{ data: '€😀中\u{10FFFF}' }],
  },

  // --- LaunchDarkly: BOM ---
  { name: 'ld bom: leading BOM stripped', input: '\uFEFFdata: a\n\n', events: [{ data: 'a' }] },
  {
    name: 'ld bom: BOM before a comment',
    input: '\uFEFF: hi\ndata: a\n\n',
    events: [{ data: 'a' }],
    comments: ['hi'],
  },
  {
    name: 'ld bom: BOM before CRLF-terminated stream',
    input: '\uFEFFdata: a\r\n\r\n',
    events: [{ data: 'a' }],
  },
  {
    name: 'ld bom: BOM inside data is data',
    input: 'data: \uFEFFa\n\n',
    events: [{ data: '\uFEFFa' }],
  },

  // --- LaunchDarkly: comments ---
  {
    name: 'ld comments: comment-only stream fires nothing',
    input: ':\n: one\n:  two\n\n',
    events: [],
    comments: ['', 'one', ' two'],
  },
  {
    name: 'ld comments: comments between data lines',
    input: 'data: a\n: c\ndata: b\n\n',
    events: [{ data: 'a\nb' }],
    comments: ['c'],
  },

  // --- LaunchDarkly: line feeds ---
  {
    name: 'ld linefeeds: LF',
    input: 'data: a\ndata: b\n\nid: 2\ndata: c\n\n',
    events: [{ data: 'a\nb' }, { data: 'c', lastEventId: '2' }],
  },
  {
    name: 'ld linefeeds: CRLF',
    input: 'data: a\r\ndata: b\r\n\r\nid: 2\r\ndata: c\r\n\r\n',
    events: [{ data: 'a\nb' }, { data: 'c', lastEventId: '2' }],
  },
  {
    name: 'ld linefeeds: CR',
    input: 'data: a\rdata: b\r\rid: 2\rdata: c\r\r',
    events: [{ data: 'a\nb' }, { data: 'c', lastEventId: '2' }],
  },
  {
    name: 'ld linefeeds: extra empty lines dispatch nothing',
    input: '\n\n\r\n\rdata: a\n\n\n\n\r\r\n',
    events: [{ data: 'a' }],
  },

  // --- spec rules most often gotten wrong (research/protocol.md §3.10) ---
  {
    name: 'a data-less id block moves the resume point without firing',
    input: 'id: 5\n\n',
    events: [],
    lastEventId: '5',
  },
  {
    name: 'an event-only block fires nothing and does not leak its type',
    input: 'event: x\n\ndata: a\n\n',
    events: [{ type: 'message', data: 'a' }],
  },
  {
    name: 'retry takes effect at once, even in a block cut off by end of stream',
    input: 'data: a\nretry: 500\n',
    events: [],
    retries: [500],
  },
  {
    name: 'an unterminated last line is not a line: its retry is not applied',
    input: 'data: a\n\nretry: 9',
    events: [{ data: 'a' }],
    retries: [],
  },
  {
    name: 'an unterminated comment at end of stream is not reported',
    input: 'data: a\n\n: partial',
    events: [{ data: 'a' }],
    comments: [],
  },
  {
    name: 'a CR ends its line at once (no wait for a possible LF)',
    input: 'data: a\n\r',
    events: [{ data: 'a' }],
  },
  {
    name: 'U+2028, U+2029 and NEL are not line breaks',
    input: 'data: a\u2028b\u2029c\u0085d\n\n',
    events: [{ data: 'a\u2028b\u2029c\u0085d' }],
  },
  {
    name: 'invalid UTF-8 becomes U+FFFD, not an error',
    input: new Uint8Array([...utf8('data: '), 0xff, 0xc3, 0x28, 0x0a, 0x0a]),
    events: [{ data: '\uFFFD\uFFFD(' }],
  },
  {
    name: 'the parser starts from a given last event id',
    initialLastEventId: '7',
    input: 'data: a\n\nid: 8\ndata: b\n\n',
    events: [
      { data: 'a', lastEventId: '7' },
      { data: 'b', lastEventId: '8' },
    ],
    lastEventId: '8',
  },
  {
    name: 'retry: zero and leading zeros accepted; signs, decimals and extra spaces refused',
    input: 'retry: 0\nretry: 0099\nretry: -1\nretry: 1.5\nretry:  5\ndata: x\n\n',
    events: [{ data: 'x' }],
    retries: [0, 99],
  },
];

interface Feed {
  name: string;
  chunks: (Uint8Array | string)[];
}

function feedsFor(vector: Vector): Feed[] {
  const bytes = typeof vector.input === 'string' ? utf8(vector.input) : vector.input;
  const feeds: Feed[] = [
    { name: 'whole', chunks: [bytes] },
    { name: 'byte by byte', chunks: byteByByte(bytes) },
  ];
  if (typeof vector.input === 'string') {
    feeds.push({ name: 'string, whole', chunks: [vector.input] });
    feeds.push({ name: 'string, code unit by code unit', chunks: vector.input.split('') });
  }
  for (const seed of fuzzSeeds(6)) {
    feeds.push({ name: `random split, seed ${seed}`, chunks: randomSplit(bytes, seededRandom(seed), 16) });
  }
  return feeds;
}

function assertOutcome(vector: Vector, outcome: ParseOutcome, feed: string): void {
  const context = `${vector.name} [${feed}]`;
  expect(
    outcome.events.map((event) => ({ type: event.type, data: event.data, lastEventId: event.lastEventId })),
    context,
  ).toEqual(
    vector.events.map((event) => ({
      type: event.type ?? 'message',
      data: event.data,
      lastEventId: event.lastEventId ?? vector.initialLastEventId ?? '',
    })),
  );
  if (vector.retries !== undefined) expect(outcome.retries, context).toEqual(vector.retries);
  if (vector.comments !== undefined) expect(outcome.comments, context).toEqual(vector.comments);
  if (vector.lastEventId !== undefined) expect(outcome.lastEventId, context).toBe(vector.lastEventId);
}

describe('EventStreamParser vectors', () => {
  for (const vector of vectors) {
    it(vector.name, () => {
      const feeds = feedsFor(vector);
      const reference = parseChunks(feeds[0]!.chunks, vector.initialLastEventId);
      for (const feed of feeds) {
        const outcome = parseChunks(feed.chunks, vector.initialLastEventId);
        assertOutcome(vector, outcome, feed.name);
        // Every feed must also report the same id changes and comments as the whole-buffer feed.
        expect(outcome.idChanges, `${vector.name} [${feed.name}] id changes`).toEqual(reference.idChanges);
        expect(outcome.comments, `${vector.name} [${feed.name}] comments`).toEqual(reference.comments);
      }
    });
  }
});

describe('EventStreamParser chunk boundaries (named cases)', () => {
  it('ld: CRLF where the CR ends one chunk and the LF starts the next is one terminator', () => {
    const outcome = parseChunks(['data: a\r', '\n', 'data: b\r', '\n\r', '\n']);
    expect(outcome.events.map((event) => event.data)).toEqual(['a\nb']);
  });

  it('eventsource-parser: CR separating chunks of the same event', () => {
    const outcome = parseChunks(['data: first\r', 'data: second\r', 'data: third\r', '\r']);
    expect(outcome.events.map((event) => event.data)).toEqual(['first\nsecond\nthird']);
  });

  it('eventsource-parser: a held CR followed by an empty chunk and then LF is still one CRLF', () => {
    const outcome = parseChunks([
      utf8('data: a\r'),
      new Uint8Array(0),
      utf8('\n\r'),
      new Uint8Array(0),
      utf8('\n'),
    ]);
    expect(outcome.events.map((event) => event.data)).toEqual(['a']);
  });

  it('a BOM split over three chunks is stripped', () => {
    const bom = utf8('\uFEFF');
    const outcome = parseChunks([
      bom.subarray(0, 1),
      bom.subarray(1, 2),
      bom.subarray(2),
      utf8('data: a\n\n'),
    ]);
    expect(outcome.events.map((event) => event.data)).toEqual(['a']);
  });

  it('a BOM after a first empty string chunk is still the stream start', () => {
    const outcome = parseChunks(['', '\uFEFFdata: a\n\n']);
    expect(outcome.events.map((event) => event.data)).toEqual(['a']);
  });

  it('a multi-byte character split across chunks is not corrupted', () => {
    const heart = utf8('❤');
    const outcome = parseChunks([utf8('data: '), heart.subarray(0, 1), heart.subarray(1), utf8('\n\n')]);
    expect(outcome.events.map((event) => event.data)).toEqual(['❤']);
  });

  it('a 1 MiB data line arrives intact in 64 KiB chunks', () => {
    const big = 'é'.repeat(512 * 1024);
    const bytes = utf8(`data: ${big}\n\n`);
    const chunks: Uint8Array[] = [];
    for (let offset = 0; offset < bytes.length; offset += 65_536)
      chunks.push(bytes.subarray(offset, offset + 65_536));
    const outcome = parseChunks(chunks);
    expect(outcome.events).toHaveLength(1);
    expect(outcome.events[0]!.data).toBe(big);
  });
});

describe('EventStreamParser connection state', () => {
  it('resetConnectionState drops a half-received block but keeps the last event id', () => {
    const events: string[] = [];
    const parser = new EventStreamParser({
      onEvent: (event) => events.push(`${event.lastEventId}:${event.data}`),
    });
    parser.push('id: 1\ndata: a\n\nid: 2\ndata: partial');
    parser.resetConnectionState();
    parser.push('data: b\n\n');
    expect(events).toEqual(['1:a', '1:b']);
    expect(parser.lastEventId).toBe('1');
  });

  it('a new stream after end() strips its own BOM and forgets a held CR', () => {
    const events: string[] = [];
    const parser = new EventStreamParser({ onEvent: (event) => events.push(event.data) });
    parser.push(utf8('\uFEFFdata: a\n\ndata: x\r'));
    parser.end();
    parser.push(utf8('\uFEFF\ndata: b\n\n'));
    parser.end();
    expect(events).toEqual(['a', 'b']);
  });

  it('onLastEventId fires only when a dispatched block changes the id', () => {
    const outcome = parseChunks(['id: 1\n\nid: 1\ndata: a\n\nid: 2\n\nid: 3\ndata: cut']);
    expect(outcome.idChanges).toEqual(['1', '2']);
    expect(outcome.lastEventId).toBe('2');
  });

  it('without end(), a complete block already dispatched stays dispatched', () => {
    const outcome = parseChunks(['data: a\n\ndata: b\n'], '', false);
    expect(outcome.events.map((event) => event.data)).toEqual(['a']);
  });
});
