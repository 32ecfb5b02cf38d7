export { encodeMessage, encodeComment, fieldValueProblem, isValidRetry, SseFieldError } from './encode.js';
export type { SseMessage } from './encode.js';
export { EventStreamParser } from './parse.js';
export type { ParsedEvent, ParserHandlers } from './parse.js';
