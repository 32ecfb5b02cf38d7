import { RESET_EVENT_TYPE } from '../protocol/constants.js';
import { encodeComment, encodeMessage } from '../protocol/encode.js';
import { RESUME_FAILURES } from '../store/types.js';
import type { StoredEvent } from '../store/types.js';

/**
 * Encoded frames, one per event, shared by every subscriber and every replay: an event is encoded
 * once, not once per subscriber (architecture invariant 7, docs/architecture.md).
 */
const frames = new WeakMap<StoredEvent, Buffer>();

export function frameOf(event: StoredEvent): Buffer {
  let frame = frames.get(event);
  if (frame === undefined) {
    encodeCount++;
    frame = Buffer.from(
      encodeMessage({ id: event.id, event: event.type, data: event.data, retry: event.retry }),
    );
    frames.set(event, frame);
  }
  return frame;
}

let encodeCount = 0;

/** How many events have been encoded so far (tests check that fan-out does not re-encode). */
export function encodedFrameCount(): number {
  return encodeCount;
}

export const HEARTBEAT_FRAME = Buffer.from(encodeComment(''));

/** `skipped`: a slow subscriber of a `skip` topic was sent the signal instead of events it could not take. */
export const RESET_REASONS = [...RESUME_FAILURES, 'malformed', 'skipped'] as const;

export interface ResetSignal {
  reason: (typeof RESET_REASONS)[number];
  /** The id the subscriber asked to resume after (for `expired` and `skipped`: the last id it got). */
  lastEventId: string;
  /** The id the stream now continues after; events after it will follow. */
  resumeFrom: string;
  /** `skipped` only: the first dropped event's id (the last one is `resumeFrom`). */
  firstSkipped?: string;
  /** `skipped` only: how many events were dropped. */
  skipped?: number;
}

export function resetFrame(signal: ResetSignal): Buffer {
  return Buffer.from(
    encodeMessage({ event: RESET_EVENT_TYPE, id: signal.resumeFrom, data: JSON.stringify(signal) }),
  );
}

/**
 * First bytes of every stream: flushes the headers through proxies and sets the client's cursor.
 * Without `startAfter` (a stream that starts with older events: kept states, a rewind) the cursor
 * is left unset, so a client that drops before the first of them starts afresh.
 */
export function openingFrame(retryMs: number, startAfter: string | undefined): Buffer {
  // The streams opened together (a reconnect storm, a page load) share one cursor: one frame.
  const last = lastOpening;
  if (last !== undefined && last.retryMs === retryMs && last.startAfter === startAfter) return last.frame;
  const frame = Buffer.from(encodeComment('') + encodeMessage({ retry: retryMs, id: startAfter }));
  lastOpening = { retryMs, startAfter, frame };
  return frame;
}

let lastOpening: { retryMs: number; startAfter: string | undefined; frame: Buffer } | undefined;

/** Moves the client's cursor without an event (the `id:` block has no data, so nothing fires). */
export function cursorFrame(id: string): Buffer {
  return Buffer.from(encodeMessage({ id }));
}
