/** `ssehub/protocol`: the Server-Sent Events wire format, both ways. Browser-safe. */

/** Encodes one event as SSE bytes, refusing field values that would inject other fields. */
export { encodeMessage } from './encode.js';
/** Encodes an SSE comment (a heartbeat). */
export { encodeComment } from './encode.js';
/** An event to encode. */
export type { SseMessage } from './encode.js';
/** Thrown by `encodeMessage` for a field value that cannot be sent as is. */
export { SseFieldError } from './encode.js';
/** Parses an SSE byte stream incrementally, following the WHATWG rules. */
export { EventStreamParser } from './parse.js';
/** Thrown by the parser for an event longer than its limit. */
export { EventTooLargeError } from './parse.js';
/** An event as parsed. */
export type { ParsedEvent } from './parse.js';
/** The parser's callbacks. */
export type { ParserHandlers } from './parse.js';
/** The parser's settings. */
export type { ParserOptions } from './parse.js';
