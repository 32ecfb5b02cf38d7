import { describe, expect, it } from 'vitest';
import { EventStreamParser, EventTooLargeError } from '../../../src/protocol/index.js';
import type { ParsedEvent } from '../../../src/protocol/index.js';

function parser(maxEventLength: number): { parser: EventStreamParser; events: ParsedEvent[] } {
  const events: ParsedEvent[] = [];
  return {
    parser: new EventStreamParser({ onEvent: (event) => events.push(event) }, '', { maxEventLength }),
    events,
  };
}

describe('EventStreamParser maxEventLength', () => {
  it('accepts an event exactly at the limit, in one chunk or split across data lines and chunks', () => {
    const whole = parser(10);
    whole.parser.push('data: 0123456789\n\n');
    const split = parser(10);
    for (const chunk of ['data: 0123', '4\ndata', ': 5678\n', '\n']) split.parser.push(chunk);
    expect(whole.events.map((event) => event.data)).toEqual(['0123456789']);
    // Two lines of 5 and 4 characters joined by "\n": 10 in all.
    expect(split.events.map((event) => event.data)).toEqual(['01234\n5678']);
  });

  it.each([
    ['one long data line', ['data: 01234567890\n\n']],
    ['data lines adding up', ['data: 012345\n', 'data: 012345\n', '\n']],
    ['a line that never ends, in small chunks', Array.from({ length: 40 }, () => 'xxxx')],
    ['a long comment line', [': ' + 'c'.repeat(50) + '\n']],
  ])('throws EventTooLargeError on %s, and keeps nothing of it', (_name, chunks) => {
    const { parser: subject, events } = parser(10);
    subject.push('id: 7\ndata: ok\n\n');
    expect(() => {
      for (const chunk of chunks) subject.push(chunk);
    }).toThrow(EventTooLargeError);
    // The next connection starts clean: the partial block is gone, the last id kept.
    subject.push('data: next\n\n');
    expect(events.map((event) => [event.data, event.lastEventId])).toEqual([
      ['ok', '7'],
      ['next', '7'],
    ]);
  });

  it('has no limit by default', () => {
    const events: ParsedEvent[] = [];
    const subject = new EventStreamParser({ onEvent: (event) => events.push(event) });
    subject.push(`data: ${'x'.repeat(5_000_000)}\n\n`);
    expect(events[0]?.data.length).toBe(5_000_000);
  });
});
