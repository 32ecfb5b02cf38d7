import { describe, expect, it } from 'vitest';
import { fieldValueProblem, isValidRetry } from '../../../src/protocol/encode.js';
import { encodeComment, encodeMessage, SseFieldError } from '../../../src/protocol/index.js';
import { parseChunks } from '../../helpers/parse.js';

describe('encodeMessage', () => {
  it('splits data on CRLF, CR and LF into one data line each', () => {
    expect(encodeMessage({ data: 'a\r\nb\rc\nd' })).toBe('data: a\ndata: b\ndata: c\ndata: d\n\n');
  });

  it('keeps empty lines of data, including leading and trailing ones', () => {
    const encoded = encodeMessage({ data: '\na\n\n' });
    expect(encoded).toBe('data: \ndata: a\ndata: \ndata: \n\n');
    expect(parseChunks([encoded]).events.map((event) => event.data)).toEqual(['\na\n\n']);
  });

  it('a CR immediately followed by LF in data is one line break, not two', () => {
    expect(parseChunks([encodeMessage({ data: 'x\r\ny' })]).events[0]!.data).toBe('x\ny');
  });

  it('writes empty data as an event with empty data', () => {
    expect(encodeMessage({ data: '' })).toBe('data: \n\n');
    expect(parseChunks([encodeMessage({ data: '' })]).events.map((event) => event.data)).toEqual(['']);
  });

  it('writes every field with one space so values starting with spaces survive', () => {
    const encoded = encodeMessage({ id: ' 1', event: '  t', data: ' x\n  y' });
    expect(encoded).toBe('event:   t\nid:  1\ndata:  x\ndata:   y\n\n');
    const [event] = parseChunks([encoded]).events;
    expect(event).toEqual({ type: '  t', data: ' x\n  y', lastEventId: ' 1' });
  });

  it('writes id and retry without data as a block that fires no event but moves the cursor', () => {
    const encoded = encodeMessage({ id: 'e-1', retry: 3000 });
    expect(encoded).toBe('id: e-1\nretry: 3000\n\n');
    const outcome = parseChunks([encoded]);
    expect(outcome.events).toEqual([]);
    expect(outcome.lastEventId).toBe('e-1');
    expect(outcome.retries).toEqual([3000]);
  });

  it('accepts an empty id (a reset) and an empty event (the default type)', () => {
    const outcome = parseChunks([
      encodeMessage({ id: 'x', data: 'a' }),
      encodeMessage({ id: '', event: '', data: 'b' }),
    ]);
    expect(outcome.events).toEqual([
      { type: 'message', data: 'a', lastEventId: 'x' },
      { type: 'message', data: 'b', lastEventId: '' },
    ]);
  });

  it('keeps colons, NUL, BOM and astral characters in data', () => {
    const data = 'a: b\0\uFEFF😀';
    expect(parseChunks([encodeMessage({ data })]).events[0]!.data).toBe(data);
  });

  for (const field of ['id', 'event'] as const) {
    for (const [label, bad] of [
      ['LF', 'a\nb'],
      ['CR', 'a\rb'],
      ['CRLF', 'a\r\nb'],
      ['NUL', 'a\0b'],
      ['a trailing LF', 'a\n'],
      ['an injected field', 'x\ndata: injected'],
    ] as const) {
      it(`refuses ${label} in ${field}, naming the field`, () => {
        let thrown: unknown;
        try {
          encodeMessage({ [field]: bad, data: 'payload' });
        } catch (error) {
          thrown = error;
        }
        expect(thrown).toBeInstanceOf(SseFieldError);
        expect((thrown as SseFieldError).field).toBe(field);
        expect((thrown as SseFieldError).message).toBe(`${field} must not contain CR, LF or NUL`);
      });
    }
  }

  for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 60, '100' as unknown as number]) {
    it(`refuses retry ${String(bad)} (${typeof bad})`, () => {
      expect(() => encodeMessage({ retry: bad })).toThrow(SseFieldError);
      expect(() => encodeMessage({ retry: bad })).toThrow('retry must be a non-negative integer');
    });
  }

  it('writes retry as digits only, zero included', () => {
    for (const retry of [0, 7, 3000, Number.MAX_SAFE_INTEGER]) {
      const encoded = encodeMessage({ retry });
      expect(encoded).toMatch(/^retry: [0-9]+\n\n$/);
      expect(parseChunks([encoded]).retries).toEqual([retry]);
    }
  });

  it('ends every message with exactly one blank line', () => {
    for (const message of [{ data: 'a' }, { id: '1' }, { comment: 'c' }, { data: 'a\n' }]) {
      const encoded = encodeMessage(message);
      expect(encoded.endsWith('\n\n')).toBe(true);
      expect(encoded.endsWith('\n\n\n')).toBe(false);
    }
  });

  it('an empty message is a lone blank line that dispatches nothing', () => {
    expect(encodeMessage({})).toBe('\n');
    expect(parseChunks([encodeMessage({ data: 'a' }), encodeMessage({})]).events).toHaveLength(1);
  });

  it('puts a comment before the fields, one comment line per line of text', () => {
    const encoded = encodeMessage({ comment: 'one\r\ntwo', data: 'd' });
    expect(encoded).toBe(': one\n: two\ndata: d\n\n');
    const outcome = parseChunks([encoded]);
    expect(outcome.comments).toEqual(['one', 'two']);
    expect(outcome.events.map((event) => event.data)).toEqual(['d']);
  });
});

describe('encodeComment', () => {
  it('a keep-alive is a bare colon line', () => {
    expect(encodeComment('')).toBe(':\n');
  });

  it('cannot be used to inject fields: every line stays a comment', () => {
    const encoded = encodeComment('hi\ndata: injected\r\rid: 9');
    expect(encoded).toBe(': hi\n: data: injected\n:\n: id: 9\n');
    const outcome = parseChunks([encoded, '\n']);
    expect(outcome.events).toEqual([]);
    expect(outcome.lastEventId).toBe('');
  });
});

describe('field validation helpers', () => {
  it('fieldValueProblem names CR, LF and NUL and accepts everything else', () => {
    expect(fieldValueProblem('urn:uuid:0f1e-…-😀 \t')).toBeUndefined();
    expect(fieldValueProblem('a\rb')).toBe('must not contain CR, LF or NUL');
    expect(fieldValueProblem('\0')).toBe('must not contain CR, LF or NUL');
  });

  it('isValidRetry accepts only non-negative safe integers', () => {
    expect([0, 1, 3000].every(isValidRetry)).toBe(true);
    expect([-1, 0.5, Number.NaN, '1', null, undefined, 2 ** 53].some(isValidRetry)).toBe(false);
  });
});
