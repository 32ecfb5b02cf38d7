export { encodeMessage, encodeComment, fieldValueProblem, isValidRetry, SseFieldError } from './encode.js';
export type { SseMessage } from './encode.js';
export { EventStreamParser, EventTooLargeError } from './parse.js';
export type { ParsedEvent, ParserHandlers, ParserOptions } from './parse.js';
