import { RESET_EVENT_TYPE } from '../protocol/constants.js';
import { EventStreamParser, EventTooLargeError } from '../protocol/parse.js';
import type { ParsedEvent } from '../protocol/parse.js';
import { backoffPolicy, MAX_TIMER_MS, retryAfterDelay, retryDelay } from './backoff.js';
import type { BackoffPolicy } from './backoff.js';
import { clientEvent, ListenableClient } from './listeners.js';
import { subscriptionUrl } from './url.js';
import type {
  ClientOptions,
  ClientState,
  Clock,
  EventMap,
  OnlineEventSource,
  Reason,
  ResetNotice,
  SseClient,
  StateChange,
} from './types.js';

const DEFAULT_HEARTBEAT_TIMEOUT_MS = 45_000;
const DEFAULT_MAX_AUTH_ATTEMPTS = 3;
const DEFAULT_MAX_EVENT_LENGTH = 16 * 1024 * 1024;
/** Longest error-body excerpt quoted in a reason. */
const SNIPPET_CHARS = 300;

type Outcome =
  | { final: true; reason: Reason }
  | { final: false; reason: Reason; immediate?: boolean; retryAfterMs?: number };

const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/**
 * One reconnecting event stream over its own connection. It starts connecting on the next
 * microtask, so listeners added right after construction see every state change and event.
 */
export class ReconnectingClient extends ListenableClient implements SseClient<EventMap> {
  readonly url: string;
  readonly closed: Promise<Reason>;

  private readonly options: ClientOptions;
  private readonly fetchImpl: typeof fetch;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly policy: BackoffPolicy;
  private readonly heartbeatTimeout: number;
  private readonly maxAuthAttempts: number;
  private readonly storageKey: string;
  private readonly parser: EventStreamParser;
  private readonly cursorListeners = new Set<(id: string) => void>();
  private readonly onlineEvents: OnlineEventSource | undefined;

  private currentState: ClientState = 'connecting';
  private closeReason: Reason | undefined;
  private resolveClosed!: (reason: Reason) => void;
  private reconnectCount = 0;
  private serverRetry: number | undefined;
  private token: string | undefined;
  private tokenFetched = false;
  private tokenNeedsRefresh = true;
  private authFailures = 0;
  private controller: AbortController | undefined;
  private openedAt: number | undefined;
  private lastActivity = 0;
  private watchdog: unknown;
  private watchdogFired = false;
  private reconnectRequested = false;
  private wake: (() => void) | undefined;

  constructor(url: string | URL, options: ClientOptions) {
    super();
    this.options = options;
    this.url = subscriptionUrl(url, options.topics).href;
    const fetchImpl = options.fetch ?? globalThis.fetch;
    if (typeof fetchImpl !== 'function') throw new TypeError('No fetch available: pass options.fetch');
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.policy = backoffPolicy(options.backoff);
    this.heartbeatTimeout = Math.min(MAX_TIMER_MS, options.heartbeatTimeout ?? DEFAULT_HEARTBEAT_TIMEOUT_MS);
    this.maxAuthAttempts = options.maxAuthAttempts ?? DEFAULT_MAX_AUTH_ATTEMPTS;
    this.storageKey = options.storageKey ?? `ssehub:last-event-id:${this.url}`;
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));

    this.parser = new EventStreamParser(
      {
        onEvent: (event) => this.dispatch(event),
        onRetry: (ms) => (this.serverRetry = ms),
        onLastEventId: (id) => {
          this.persist(id);
          for (const listener of [...this.cursorListeners]) listener(id);
        },
      },
      options.lastEventId ?? this.readStoredId() ?? '',
      { maxEventLength: options.maxEventLength ?? DEFAULT_MAX_EVENT_LENGTH },
    );

    this.onlineEvents =
      options.onlineEvents === undefined ? defaultOnlineEvents() : (options.onlineEvents ?? undefined);
    this.onlineEvents?.addEventListener('online', this.handleOnline);
    options.signal?.addEventListener('abort', this.handleAbort);
    queueMicrotask(() => void this.run());
  }

  get state(): ClientState {
    return this.currentState;
  }

  get lastEventId(): string {
    return this.parser.lastEventId;
  }

  get reconnects(): number {
    return this.reconnectCount;
  }

  /**
   * Called whenever the stream's last event id changes: before each event with an id, and for
   * data-less `id:` blocks (a stream's opening block, the reset signal), which fire no event.
   */
  onCursor(listener: (id: string) => void): () => void {
    this.cursorListeners.add(listener);
    return () => this.cursorListeners.delete(listener);
  }

  reconnect(): void {
    if (this.closeReason) return;
    if (this.wake) {
      this.wake();
      return;
    }
    if (this.controller) {
      this.reconnectRequested = true;
      this.controller.abort();
    }
  }

  close(): void {
    this.finish({ code: 'closed', message: 'Closed by the application.' });
  }

  private readonly handleOnline = (): void => {
    // Back online: waiting out the backoff would only delay recovery.
    this.wake?.();
  };

  private readonly handleAbort = (): void => {
    this.finish({ code: 'aborted', message: 'Closed: the abort signal fired.' });
  };

  private async run(): Promise<void> {
    if (this.options.signal?.aborted) this.handleAbort();
    let attempt = 0;
    while (!this.closeReason) {
      const outcome = await this.connect(attempt);
      if (this.closeReason) return;
      if (outcome.final) {
        this.finish(outcome.reason);
        return;
      }
      const healthy =
        this.openedAt !== undefined && this.clock.now() - this.openedAt >= this.policy.healthyAfter;
      attempt = healthy ? 1 : attempt + 1;
      const delay = outcome.immediate ? 0 : this.retryWait(attempt, outcome.retryAfterMs);
      this.setState({ state: 'retrying', attempt, delay, reason: outcome.reason });
      await this.sleep(delay);
    }
  }

  /**
   * The backoff's delay, or the server's `Retry-After` (plus its own jitter) when that is longer: a
   * hub refusing new streams (503) or a client (429) says when to come back, and spreads out
   * the clients it refuses at once; arriving earlier would only be refused again.
   */
  private retryWait(attempt: number, retryAfterMs: number | undefined): number {
    const backoff = retryDelay(this.policy, attempt, this.serverRetry, this.random);
    if (retryAfterMs === undefined) return backoff;
    return Math.max(backoff, retryAfterDelay(this.policy, retryAfterMs, this.random));
  }

  private async connect(attempt: number): Promise<Outcome> {
    if (attempt > 0) this.reconnectCount++;
    this.openedAt = undefined;
    this.watchdogFired = false;
    this.reconnectRequested = false;
    const controller = new AbortController();
    this.controller = controller;
    this.setState({ state: 'connecting', attempt });
    this.lastActivity = this.clock.now();
    this.armWatchdog(controller);
    try {
      return await this.stream(controller, attempt);
    } finally {
      this.clock.clearTimeout(this.watchdog);
      this.watchdog = undefined;
      if (this.controller === controller) this.controller = undefined;
    }
  }

  private async stream(controller: AbortController, attempt: number): Promise<Outcome> {
    let headers: Record<string, string>;
    try {
      headers = await this.requestHeaders();
    } catch (error) {
      return {
        final: false,
        reason: { code: 'token-error', message: `Could not get the token or headers: ${describe(error)}` },
      };
    }
    const requestUrl = new URL(this.url);
    const id = this.parser.lastEventId;
    if (id !== '') {
      const headerValue = asHeaderValue(id);
      if (headerValue === undefined) requestUrl.searchParams.set('lastEventID', id);
      else headers['Last-Event-ID'] = headerValue;
    }
    if (controller.signal.aborted) return this.interrupted(undefined);

    let response: Response;
    try {
      response = await this.fetchImpl(requestUrl.href, {
        headers,
        cache: 'no-store',
        credentials: this.options.credentials ?? 'same-origin',
        redirect: 'follow',
        signal: controller.signal,
      });
    } catch (error) {
      return this.interrupted(error);
    }
    if (this.closeReason) return { final: true, reason: this.closeReason };

    const status = response.status;
    if (status === 200) {
      const contentType = response.headers.get('content-type') ?? '';
      if (mimeEssence(contentType) !== 'text/event-stream') {
        void response.body?.cancel().catch(() => undefined);
        return final(
          'content-type',
          `Expected Content-Type text/event-stream, got ${contentType || 'none'}.`,
          status,
        );
      }
      return this.read(response, controller, attempt);
    }

    const detail = await bodySnippet(response);
    const said = `${status}${response.statusText ? ` ${response.statusText}` : ''}${detail ? `: ${detail}` : ''}`;
    if (status === 204)
      return final('no-content', `The server answered ${said}; it asked the client to stop.`, status);
    if (status === 401) {
      this.authFailures++;
      const refreshable = typeof this.options.token === 'function';
      if (!refreshable || this.authFailures >= this.maxAuthAttempts) {
        const tries = this.authFailures === 1 ? 'once' : `${this.authFailures} times in a row`;
        return final('unauthorized', `The server answered ${said} (${tries}).`, status);
      }
      this.tokenNeedsRefresh = true;
      return {
        final: false,
        // A fresh token should work at once; only repeated refusals wait out the backoff.
        immediate: this.authFailures === 1,
        reason: {
          code: 'unauthorized',
          message: `${sentence(`The server answered ${said}`)} Refreshing the token.`,
          status,
        },
      };
    }
    if (status >= 500 || status === 408 || status === 429) {
      return {
        final: false,
        retryAfterMs: retryAfterMs(response.headers.get('retry-after'), this.clock.now()),
        reason: { code: 'server-error', message: sentence(`The server answered ${said}`), status },
      };
    }
    return final('http-status', sentence(`The server answered ${said}`), status);
  }

  private async read(response: Response, controller: AbortController, attempt: number): Promise<Outcome> {
    if (!response.body)
      return { final: false, reason: { code: 'network', message: 'The response has no body.' } };
    this.parser.resetConnectionState();
    this.openedAt = this.clock.now();
    this.authFailures = 0;
    this.setState({ state: 'open', attempt, resumedAfter: response.headers.get('last-event-id') });
    const reader = response.body.getReader();
    try {
      while (!this.closeReason && !controller.signal.aborted) {
        const { done, value } = await reader.read();
        if (done) {
          this.parser.end();
          return { final: false, reason: { code: 'stream-ended', message: 'The server ended the stream.' } };
        }
        this.lastActivity = this.clock.now();
        this.parser.push(value);
      }
    } catch (error) {
      this.parser.resetConnectionState();
      if (error instanceof EventTooLargeError) {
        // Reconnecting would resume before the same event and meet it again: stop, and say why.
        void reader.cancel().catch(() => undefined);
        return {
          final: true,
          reason: {
            code: 'event-too-large',
            message: `${error.message} The client's maxEventLength is ${error.limit}.`,
          },
        };
      }
      return this.interrupted(error);
    }
    // A listener closed the client or asked for a reconnect in the middle of a chunk.
    void reader.cancel().catch(() => undefined);
    this.parser.resetConnectionState();
    return this.interrupted(undefined);
  }

  /** Why a connection attempt or a stream stopped without an HTTP answer to blame. */
  private interrupted(error: unknown): Outcome {
    if (this.closeReason) return { final: true, reason: this.closeReason };
    if (this.watchdogFired) {
      const message = `Nothing received for ${this.heartbeatTimeout} ms; the connection is presumed dead.`;
      return { final: false, reason: { code: 'heartbeat-timeout', message } };
    }
    if (this.reconnectRequested) {
      return {
        final: false,
        immediate: true,
        reason: { code: 'reconnect', message: 'Reconnect requested.' },
      };
    }
    return { final: false, reason: { code: 'network', message: `Connection failed: ${describe(error)}` } };
  }

  private async requestHeaders(): Promise<Record<string, string>> {
    const extra = this.options.headers;
    const headers: Record<string, string> = {
      ...(typeof extra === 'function' ? await extra() : extra),
      Accept: 'text/event-stream',
    };
    const token = await this.currentToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    return headers;
  }

  private async currentToken(): Promise<string | undefined> {
    const source = this.options.token;
    if (typeof source !== 'function') return source;
    if (this.tokenNeedsRefresh) {
      this.token = await source({ refresh: this.tokenFetched });
      this.tokenFetched = true;
      this.tokenNeedsRefresh = false;
    }
    return this.token;
  }

  private armWatchdog(controller: AbortController): void {
    if (this.heartbeatTimeout <= 0) return;
    const check = (): void => {
      const idle = this.clock.now() - this.lastActivity;
      if (idle >= this.heartbeatTimeout) {
        this.watchdog = undefined;
        this.watchdogFired = true;
        controller.abort();
      } else {
        this.watchdog = this.clock.setTimeout(check, this.heartbeatTimeout - idle);
      }
    };
    this.watchdog = this.clock.setTimeout(check, this.heartbeatTimeout);
  }

  private sleep(ms: number): Promise<void> {
    if (ms <= 0 || this.closeReason) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.clock.clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = this.clock.setTimeout(done, ms);
      this.wake = done;
    });
  }

  private dispatch(parsed: ParsedEvent): void {
    if (this.closeReason) return;
    if (parsed.type === RESET_EVENT_TYPE) {
      this.listeners.emitReset(resetNotice(parsed));
      return;
    }
    this.listeners.emitEvent(clientEvent(parsed.type, parsed.data, parsed.lastEventId));
  }

  private setState(change: StateChange): void {
    this.currentState = change.state;
    this.listeners.emitState(change);
  }

  private finish(reason: Reason): void {
    if (this.closeReason) return;
    this.closeReason = reason;
    this.clock.clearTimeout(this.watchdog);
    this.watchdog = undefined;
    this.controller?.abort();
    this.wake?.();
    this.onlineEvents?.removeEventListener('online', this.handleOnline);
    this.options.signal?.removeEventListener('abort', this.handleAbort);
    this.setState({ state: 'closed', reason });
    this.resolveClosed(reason);
  }

  private readStoredId(): string | undefined {
    try {
      return this.options.storage?.getItem(this.storageKey) ?? undefined;
    } catch {
      return undefined; // storage can be disabled (privacy modes); resuming is then best effort
    }
  }

  private persist(id: string): void {
    try {
      this.options.storage?.setItem(this.storageKey, id);
    } catch {
      // Quota or privacy errors must not break the stream.
    }
  }
}

function final(code: Reason['code'], message: string, status: number): Outcome {
  return { final: true, reason: { code, message, status } };
}

function defaultOnlineEvents(): OnlineEventSource | undefined {
  const scope = globalThis as Partial<OnlineEventSource>;
  return typeof scope.addEventListener === 'function' && typeof scope.removeEventListener === 'function'
    ? (scope as OnlineEventSource)
    : undefined;
}

function mimeEssence(contentType: string): string {
  return (contentType.split(';')[0] ?? '').trim().toLowerCase();
}

/**
 * The id as a `Last-Event-ID` header value (UTF-8 bytes, as browsers send it), or undefined when a
 * header cannot carry it unchanged (fetch trims surrounding whitespace, refuses control characters):
 * then it goes in the `lastEventID` query parameter instead.
 */
function asHeaderValue(id: string): string | undefined {
  if (/[\x00-\x1f\x7f]/.test(id) || /^[ \t]|[ \t]$/.test(id)) return undefined;
  if (/^[\x20-\x7e]*$/.test(id)) return id;
  return String.fromCharCode(...new TextEncoder().encode(id));
}

function resetNotice(parsed: ParsedEvent): ResetNotice {
  try {
    const body = JSON.parse(parsed.data) as Partial<ResetNotice>;
    return {
      reason: String(body.reason ?? 'unknown'),
      lastEventId: String(body.lastEventId ?? ''),
      resumeFrom: String(body.resumeFrom ?? parsed.lastEventId),
    };
  } catch {
    return { reason: 'unknown', lastEventId: '', resumeFrom: parsed.lastEventId };
  }
}

/** `Retry-After` in ms (delta-seconds or an HTTP date), or undefined. */
function retryAfterMs(header: string | null, now: number): number | undefined {
  if (!header) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** The start of an error response's body, on one line, so a reason can quote the server. */
async function bodySnippet(response: Response): Promise<string> {
  const reader = response.body?.getReader();
  if (!reader) return '';
  const decoder = new TextDecoder();
  let text = '';
  try {
    while (text.length < SNIPPET_CHARS) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  } catch {
    // The body is only decoration for the reason.
  }
  void reader.cancel().catch(() => undefined);
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > SNIPPET_CHARS ? `${line.slice(0, SNIPPET_CHARS)}…` : line;
}

/** Ends `text` with a full stop unless it already ends a sentence. */
function sentence(text: string): string {
  return /[.!?…]$/.test(text) ? text : `${text}.`;
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause;
    return cause instanceof Error ? `${error.message} (${cause.message})` : error.message;
  }
  return String(error);
}
