import { EventStreamParser } from '../../src/protocol/index.js';
import type { ParsedEvent } from '../../src/protocol/index.js';

export interface ParseOutcome {
  events: ParsedEvent[];
  retries: number[];
  comments: string[];
  idChanges: string[];
  lastEventId: string;
}

/** Feeds `chunks` to a fresh parser, ends the stream, and records everything it reported. */
export function parseChunks(
  chunks: Iterable<Uint8Array | string>,
  initialLastEventId = '',
  endStream = true,
): ParseOutcome {
  const outcome: ParseOutcome = { events: [], retries: [], comments: [], idChanges: [], lastEventId: '' };
  const parser = new EventStreamParser(
    {
      onEvent: (event) => outcome.events.push(event),
      onRetry: (ms) => outcome.retries.push(ms),
      onComment: (text) => outcome.comments.push(text),
      onLastEventId: (id) => outcome.idChanges.push(id),
    },
    initialLastEventId,
  );
  for (const chunk of chunks) parser.push(chunk);
  if (endStream) parser.end();
  outcome.lastEventId = parser.lastEventId;
  return outcome;
}

const encoder = new TextEncoder();

export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
