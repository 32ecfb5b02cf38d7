/**
 * A streaming `text/event-stream` parser following the WHATWG HTML rules (§9.2.5–9.2.6): UTF-8 with
 * one leading BOM stripped, CR / LF / CRLF line endings (a CR at the end of a chunk may be half of a
 * CRLF), exactly one space removed after the colon, `id` containing NUL ignored, `retry` digits only
 * and applied at once, dispatch on a blank line, and an unterminated line or block dropped at end of
 * stream.
 */

export interface ParsedEvent {
  /** The event type; `message` when the block had no (or an empty) `event` field. */
  type: string;
  data: string;
  /** The stream's last event id at dispatch time (persists across events, as in browsers). */
  lastEventId: string;
}

export interface ParserHandlers {
  onEvent(event: ParsedEvent): void;
  onRetry?(ms: number): void;
  onComment?(text: string): void;
  /** Called whenever a dispatched block changes the last event id, with or without data. */
  onLastEventId?(id: string): void;
}

export interface ParserOptions {
  /**
   * Most characters one event may hold (its data, or any one line's value). Past it, `push`
   * throws `EventTooLargeError` and the parser keeps nothing of the block: a peer cannot make it
   * buffer without bound. Default: no limit.
   */
  maxEventLength?: number;
}

/** An event (or a line) longer than the parser's `maxEventLength`. */
export class EventTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`An event longer than ${limit} characters arrived.`);
    this.name = 'EventTooLargeError';
  }
}

const DIGITS_ONLY = /^[0-9]+$/;

export class EventStreamParser {
  private decoder = new TextDecoder('utf-8');
  private pending = '';
  private lastCharWasCr = false;
  private atStreamStart = true;
  private data: string[] = [];
  /** Characters in `data` (plus a line ending per line), checked against the limit. */
  private dataLength = 0;
  private hasData = false;
  private readonly maxEventLength: number;
  /** A line may hold a whole event's worth of value plus its field name (`event: ` is the longest). */
  private readonly maxLineLength: number;
  private eventType = '';
  private idBuffer: string;
  /** The last event id string, as the EventSource keeps it between events and reconnections. */
  lastEventId: string;

  constructor(
    private readonly handlers: ParserHandlers,
    initialLastEventId = '',
    options: ParserOptions = {},
  ) {
    this.maxEventLength = options.maxEventLength ?? Infinity;
    this.maxLineLength = this.maxEventLength + 'event: '.length;
    this.lastEventId = initialLastEventId;
    this.idBuffer = initialLastEventId;
  }

  push(chunk: Uint8Array | string): void {
    let text = typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    if (this.atStreamStart && text.length > 0) {
      this.atStreamStart = false;
      // TextDecoder already strips a byte-order mark; strings pushed directly get the same rule.
      if (typeof chunk === 'string' && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    this.consume(text);
  }

  /**
   * End of the stream. Text after the last line ending is not a line (WHATWG: "any pending data must
   * be discarded"), so neither it nor a block without its blank line has any effect.
   */
  end(): void {
    this.resetConnectionState();
  }

  /** Forget a partly received stream (for a new connection), keeping the last event id. */
  resetConnectionState(): void {
    this.decoder = new TextDecoder('utf-8');
    this.pending = '';
    this.lastCharWasCr = false;
    this.atStreamStart = true;
    this.data = [];
    this.dataLength = 0;
    this.hasData = false;
    this.eventType = '';
    this.idBuffer = this.lastEventId;
  }

  private consume(text: string): void {
    let start = 0;
    let i = 0;
    if (this.lastCharWasCr && text.length > 0) {
      this.lastCharWasCr = false;
      if (text.charCodeAt(0) === 10) start = i = 1;
    }
    const length = text.length;
    for (; i < length; i++) {
      const code = text.charCodeAt(i);
      if (code !== 10 && code !== 13) continue;
      const line = this.pending + text.slice(start, i);
      this.pending = '';
      if (code === 13) {
        if (i + 1 === length) this.lastCharWasCr = true;
        else if (text.charCodeAt(i + 1) === 10) i++;
      }
      start = i + 1;
      if (line.length > this.maxLineLength) this.overflow();
      this.processLine(line);
    }
    if (start < length) this.pending += text.slice(start);
    if (this.pending.length > this.maxLineLength) this.overflow();
  }

  private overflow(): never {
    this.resetConnectionState();
    throw new EventTooLargeError(this.maxEventLength);
  }

  private processLine(line: string): void {
    if (line === '') {
      this.dispatch();
      return;
    }
    const colon = line.indexOf(':');
    if (colon === 0) {
      this.handlers.onComment?.(line.charCodeAt(1) === 32 ? line.slice(2) : line.slice(1));
      return;
    }
    let field: string;
    let value: string;
    if (colon === -1) {
      field = line;
      value = '';
    } else {
      field = line.slice(0, colon);
      value = line.charCodeAt(colon + 1) === 32 ? line.slice(colon + 2) : line.slice(colon + 1);
    }
    switch (field) {
      case 'event':
        this.eventType = value;
        break;
      case 'data':
        this.data.push(value);
        this.dataLength += value.length + 1;
        this.hasData = true;
        if (this.dataLength > this.maxEventLength + 1) this.overflow();
        break;
      case 'id':
        if (!value.includes('\0')) this.idBuffer = value;
        break;
      case 'retry':
        if (DIGITS_ONLY.test(value)) this.handlers.onRetry?.(Number.parseInt(value, 10));
        break;
      default:
        break;
    }
  }

  private dispatch(): void {
    if (this.idBuffer !== this.lastEventId) {
      this.lastEventId = this.idBuffer;
      this.handlers.onLastEventId?.(this.lastEventId);
    }
    if (!this.hasData) {
      this.eventType = '';
      return;
    }
    const event: ParsedEvent = {
      type: this.eventType === '' ? 'message' : this.eventType,
      data: this.data.join('\n'),
      lastEventId: this.lastEventId,
    };
    this.data = [];
    this.dataLength = 0;
    this.hasData = false;
    this.eventType = '';
    this.handlers.onEvent(event);
  }
}
