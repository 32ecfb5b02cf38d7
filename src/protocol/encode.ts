/**
 * Turns events into Server-Sent Events bytes. Values that would let a caller inject extra fields
 * (CR, LF or NUL in `id` or `event`) are refused rather than silently mangled; `data` is split into
 * one `data:` line per line of text, whatever its line endings.
 */

export interface SseMessage {
  id?: string;
  event?: string;
  data?: string;
  retry?: number;
  comment?: string;
}

export class SseFieldError extends Error {
  constructor(
    readonly field: 'id' | 'event' | 'retry',
    reason: string,
  ) {
    super(`${field} ${reason}`);
    this.name = 'SseFieldError';
  }
}

const FORBIDDEN_IN_FIELD = /[\r\n\0]/;
const LINE_BREAK = /\r\n|\r|\n/;

/**
 * The text as it goes out in UTF-8: a lone surrogate has no UTF-8 form and becomes U+FFFD, as
 * writing the string to a socket would make it.
 */
export function wellFormedText(text: string): string {
  return text.isWellFormed() ? text : text.toWellFormed();
}

/** Why a value cannot be an `id` or `event` field, or undefined when it can. */
export function fieldValueProblem(value: string): string | undefined {
  return FORBIDDEN_IN_FIELD.test(value) ? 'must not contain CR, LF or NUL' : undefined;
}

export function isValidRetry(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

export function encodeMessage(message: SseMessage): string {
  let out = '';
  if (message.comment !== undefined) out += encodeCommentLines(message.comment);
  if (message.event !== undefined) {
    const problem = fieldValueProblem(message.event);
    if (problem) throw new SseFieldError('event', problem);
    out += `event: ${message.event}\n`;
  }
  if (message.id !== undefined) {
    const problem = fieldValueProblem(message.id);
    if (problem) throw new SseFieldError('id', problem);
    out += `id: ${message.id}\n`;
  }
  if (message.retry !== undefined) {
    if (!isValidRetry(message.retry)) throw new SseFieldError('retry', 'must be a non-negative integer');
    out += `retry: ${message.retry}\n`;
  }
  if (message.data !== undefined) {
    for (const line of message.data.split(LINE_BREAK)) out += `data: ${line}\n`;
  }
  return out + '\n';
}

/** A comment block; a keep-alive is `encodeComment('')`. Never dispatches an event on the client. */
export function encodeComment(text: string): string {
  return encodeCommentLines(text);
}

function encodeCommentLines(text: string): string {
  let out = '';
  for (const line of text.split(LINE_BREAK)) out += line === '' ? ':\n' : `: ${line}\n`;
  return out;
}
