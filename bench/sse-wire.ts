/**
 * The load tool's SSE client, reduced to what a benchmark needs: a raw HTTP/1.1 response parser
 * (status line, headers, chunked or identity body) feeding an incremental `id:`/`data:` line parser.
 * It runs once per delivery for tens of thousands of sockets, so it works on latin1 strings (one
 * char per byte, which keeps chunk sizes exact) and allocates little. The bench payload is ASCII.
 */

export interface SseResponseHandlers {
  /** The response head was read; `status` is the HTTP status code, `headerLines` the rest of the head. */
  onHead(status: number, headerLines: readonly string[]): void;
  /** One dispatched event: the stream's last event id (WHATWG semantics) and its data. */
  onEvent(lastEventId: string, data: string): void;
  /** The server ended the body (zero-size chunk); the socket may still be open. */
  onEnd?(): void;
}

type Stage = 'head' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'identity' | 'done';

const HEAD_LIMIT = 16 * 1024;

export class SseResponseParser {
  status = 0;
  private stage: Stage = 'head';
  private head = '';
  private chunkSizeLine = '';
  private chunkRemaining = 0;
  private crlfRemaining = 0;
  private partialLine = '';
  private lastEventId = '';
  private data: string | undefined;

  constructor(private readonly handlers: SseResponseHandlers) {}

  /** Feeds bytes read from the socket, decoded as latin1. */
  push(text: string): void {
    let offset = 0;
    while (offset < text.length) {
      switch (this.stage) {
        case 'head':
          offset = this.readHead(text, offset);
          break;
        case 'chunk-size': {
          const lineEnd = text.indexOf('\n', offset);
          if (lineEnd === -1) {
            this.chunkSizeLine += text.slice(offset);
            offset = text.length;
            break;
          }
          const line = this.chunkSizeLine + text.slice(offset, lineEnd);
          this.chunkSizeLine = '';
          offset = lineEnd + 1;
          const size = parseInt(line, 16); // parseInt stops at `;extensions` and `\r`
          if (!Number.isFinite(size) || size < 0)
            throw new Error(`bad chunk size line: ${JSON.stringify(line)}`);
          if (size === 0) {
            this.stage = 'done';
            this.handlers.onEnd?.();
          } else {
            this.chunkRemaining = size;
            this.stage = 'chunk-data';
          }
          break;
        }
        case 'chunk-data': {
          const take = Math.min(this.chunkRemaining, text.length - offset);
          this.readBody(text.slice(offset, offset + take));
          offset += take;
          this.chunkRemaining -= take;
          if (this.chunkRemaining === 0) {
            this.stage = 'chunk-crlf';
            this.crlfRemaining = 2;
          }
          break;
        }
        case 'chunk-crlf': {
          const take = Math.min(this.crlfRemaining, text.length - offset);
          offset += take;
          this.crlfRemaining -= take;
          if (this.crlfRemaining === 0) this.stage = 'chunk-size';
          break;
        }
        case 'identity':
          this.readBody(offset === 0 ? text : text.slice(offset));
          offset = text.length;
          break;
        case 'done':
          offset = text.length;
          break;
      }
    }
  }

  private readHead(text: string, offset: number): number {
    const before = this.head.length;
    this.head += offset === 0 ? text : text.slice(offset);
    const end = this.head.indexOf('\r\n\r\n');
    if (end === -1) {
      if (this.head.length > HEAD_LIMIT) throw new Error('response head too long');
      return text.length;
    }
    const lines = this.head.slice(0, end).split('\r\n');
    const statusMatch = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
    if (!statusMatch) throw new Error(`bad status line: ${JSON.stringify(lines[0])}`);
    this.status = Number(statusMatch[1]);
    const chunked = lines.some((line) => /^transfer-encoding:.*chunked/i.test(line));
    this.stage = chunked ? 'chunk-size' : 'identity';
    this.head = '';
    this.handlers.onHead(this.status, lines.slice(1));
    // Resume right after the blank line, within the current text.
    return offset + (end + 4 - before);
  }

  /** SSE line handling (WHATWG): `\n` and `\r\n` line ends; a bare `\r` is not produced by any measured server. */
  private readBody(text: string): void {
    let start = 0;
    let newline = text.indexOf('\n');
    if (newline === -1) {
      this.partialLine += text;
      return;
    }
    let line = this.partialLine + text.slice(0, newline);
    this.partialLine = '';
    for (;;) {
      this.readLine(line.endsWith('\r') ? line.slice(0, -1) : line);
      start = newline + 1;
      newline = text.indexOf('\n', start);
      if (newline === -1) break;
      line = text.slice(start, newline);
    }
    if (start < text.length) this.partialLine = text.slice(start);
  }

  private readLine(line: string): void {
    if (line === '') {
      if (this.data !== undefined) {
        const data = this.data;
        this.data = undefined;
        this.handlers.onEvent(this.lastEventId, data);
      }
      return;
    }
    const colon = line.indexOf(':');
    if (colon === 0) return; // comment
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data = this.data === undefined ? value : `${this.data}\n${value}`;
    else if (field === 'id' && !value.includes('\0')) this.lastEventId = value;
  }
}

/** The request every bench subscriber sends: minimal HTTP/1.1, keep-alive implied. */
export function subscribeRequest(path: string, host: string, headers: Record<string, string> = {}): string {
  let extra = '';
  for (const [name, value] of Object.entries(headers)) extra += `${name}: ${value}\r\n`;
  return `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n${extra}\r\n`;
}
