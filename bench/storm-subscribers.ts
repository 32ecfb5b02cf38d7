/**
 * The storm's subscribers in one load worker: raw sockets that remember the last event id they
 * saw, are all cut at one planned instant, and reconnect at once with `Last-Event-ID`, as a
 * browser's EventSource would after a load balancer reset. Every delivery is checked per
 * subscriber against the sequence numbers the coordinator published (lost, duplicated, out of
 * order are counted, never assumed), and the moments that matter are kept as wall-clock times.
 */
import net from 'node:net';
import { clockMs, decodePayload } from './ledger.js';
import { SseResponseParser, subscribeRequest } from './sse-wire.js';

export interface StormConnectCommand {
  type: 'storm-connect';
  port: number;
  path: string;
  count: number;
  localAddresses: string[];
  /** Connections waiting for their response head at once while the storm's subscribers are set up. */
  concurrency: number;
  timeoutMs: number;
  /** The payload phase of this storm's events; anything else on the stream is ignored. */
  phase: number;
  /** Most sequence numbers the coordinator may publish in the phase (sizes the per-subscriber bitmap). */
  maxEvents: number;
}

export interface StormCutCommand {
  type: 'storm-cut';
  /** Wall-clock instant (clockMs) at which every socket is reset. */
  atMs: number;
  /** Caught up = has every sequence number up to and including this one (the first event after the cut). */
  targetSeq: number;
  /** One reconnect attempt waits this long for its response head. */
  attemptTimeoutMs: number;
  /** Attempts per subscriber (the first included); a subscriber that runs out counts as failed. */
  maxAttempts: number;
}

export interface StormProgress {
  type: 'storm-progress';
  subscribers: number;
  /** Subscribers with a 200 head since the cut. */
  headed: number;
  /** Subscribers that have every event up to the target. */
  caughtUp: number;
  /** Subscribers that gave up reconnecting. */
  failed: number;
  /** Subscribers that have every event the coordinator says it has published. */
  complete: number;
}

export interface StormReport {
  type: 'storm-report';
  /** When this worker actually reset its sockets (clockMs). */
  cutMs: number;
  /** Per reconnected subscriber: when its 200 head arrived (clockMs). */
  headMs: number[];
  /** Per caught-up subscriber: when it had every event up to the target (clockMs). */
  caughtUpMs: number[];
  subscribers: number;
  deliveries: number;
  /** Events missing at subscribers that did reconnect (what the hub's promise is about). */
  lost: number;
  /** Subscribers with no response head since the cut when the bounded wait ended. */
  notBack: number;
  /** Events missing at those: they are still waiting to come back, not lost by the server. */
  missingNotBack: number;
  duplicates: number;
  outOfOrder: number;
  failedReconnects: number;
  /** Attempts after the first: after an error, a timeout or a refusal. */
  retries: number;
  /** Non-200 answers to reconnects, by status. */
  refusals: Record<string, number>;
  /** Failed reconnect attempts, by what went wrong (refusals included as `HTTP <status>`). */
  attemptErrors: Record<string, number>;
  /** Streams the server ended after their head (outside the cut); they reconnect too. */
  closedByServer: number;
  unparsable: number;
}

const RETRY_DEFAULT_MS = 1000;

class StormSubscriber {
  socket: net.Socket | undefined;
  lastEventId = '';
  readonly received: Uint8Array;
  /** Every sequence number below this one has been received. */
  contiguous = 0;
  maxSeen = -1;
  duplicates = 0;
  outOfOrder = 0;
  headMs = NaN;
  caughtUpMs = NaN;
  attempts = 0;
  failed = false;

  constructor(
    readonly index: number,
    readonly localAddress: string,
    maxEvents: number,
  ) {
    this.received = new Uint8Array(maxEvents);
  }
}

/** One worker's share of a storm: set up, cut, reconnect, account. */
export class StormGroup {
  private readonly subscribers: StormSubscriber[] = [];
  private cut: StormCutCommand | undefined;
  private cutMs = NaN;
  private deliveries = 0;
  private unparsable = 0;
  private retries = 0;
  private closedByServer = 0;
  private readonly refusals: Record<string, number> = {};
  private readonly attemptErrors: Record<string, number> = {};
  private stopped = false;

  constructor(private readonly setup: StormConnectCommand) {}

  /** Opens every subscriber (bounded concurrency); resolves with how many hold a stream. */
  async connectAll(): Promise<{ open: number; failed: number; firstError: string | undefined }> {
    const { count, localAddresses, concurrency, maxEvents } = this.setup;
    for (let i = 0; i < count; i++) {
      this.subscribers.push(
        new StormSubscriber(i, localAddresses[i % localAddresses.length] ?? '127.0.0.1', maxEvents),
      );
    }
    let next = 0;
    let failed = 0;
    let firstError: string | undefined;
    const lane = async (): Promise<void> => {
      while (next < count) {
        const subscriber = this.subscribers[next++] as StormSubscriber;
        const outcome = await this.open(subscriber, this.setup.timeoutMs);
        if (outcome.error !== undefined) {
          subscriber.failed = true;
          failed++;
          firstError ??= outcome.error;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, concurrency) }, lane));
    return { open: count - failed, failed, firstError };
  }

  /** Schedules the cut; every subscriber reconnects at once right after it. */
  scheduleCut(command: StormCutCommand): void {
    this.cut = command;
    setTimeout(() => this.cutAndReconnect(command), Math.max(0, command.atMs - clockMs()));
  }

  private cutAndReconnect(command: StormCutCommand): void {
    this.cutMs = clockMs();
    const live = this.subscribers.filter((subscriber) => !subscriber.failed);
    // Reset every socket first, then reconnect: the server sees the whole storm at once.
    for (const subscriber of live) {
      const socket = subscriber.socket;
      subscriber.socket = undefined;
      socket?.removeAllListeners('close');
      socket?.on('error', () => undefined);
      socket?.resetAndDestroy();
    }
    for (const subscriber of live) void this.reconnect(subscriber, command);
  }

  private async reconnect(subscriber: StormSubscriber, command: StormCutCommand): Promise<void> {
    subscriber.attempts = 0;
    while (!this.stopped && subscriber.attempts < command.maxAttempts) {
      if (subscriber.attempts > 0) this.retries++;
      subscriber.attempts++;
      const outcome = await this.open(subscriber, command.attemptTimeoutMs);
      if (outcome.error === undefined) return;
      this.attemptErrors[outcome.error] = (this.attemptErrors[outcome.error] ?? 0) + 1;
      await sleep(outcome.retryAfterMs ?? RETRY_DEFAULT_MS);
    }
    subscriber.failed = true;
  }

  /** One connection attempt; settles at the response head (or failure). */
  private open(
    subscriber: StormSubscriber,
    timeoutMs: number,
  ): Promise<{ error?: string; retryAfterMs?: number }> {
    return new Promise((resolve) => {
      let settled = false;
      const settle = (outcome: { error?: string; retryAfterMs?: number }): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(outcome);
      };
      const { port, path } = this.setup;
      const socket = net.connect({ host: '127.0.0.1', port, localAddress: subscriber.localAddress });
      const timer = setTimeout(() => {
        socket.destroy();
        settle({ error: 'timed out waiting for the response head' });
      }, timeoutMs);
      const parser = new SseResponseParser({
        onHead: (status, headerLines) => {
          if (status === 200) {
            subscriber.socket = socket;
            if (this.cut && Number.isNaN(subscriber.headMs)) subscriber.headMs = clockMs();
            settle({});
            return;
          }
          this.refusals[status] = (this.refusals[status] ?? 0) + 1;
          socket.destroy();
          settle({ error: `HTTP ${status}`, retryAfterMs: retryAfterMs(headerLines) });
        },
        onEvent: (id, data) => this.receive(subscriber, id, data),
      });
      socket.setEncoding('latin1');
      const headers: Record<string, string> = subscriber.lastEventId
        ? { 'Last-Event-ID': subscriber.lastEventId }
        : {};
      socket.on('connect', () => socket.write(subscribeRequest(path, `127.0.0.1:${port}`, headers)));
      socket.on('data', (text: string) => {
        try {
          parser.push(text);
        } catch (error) {
          socket.destroy();
          settle({ error: String(error) });
        }
      });
      socket.on('error', (error) => settle({ error: error.message }));
      socket.on('close', () => {
        settle({ error: 'closed before the response head' });
        // A stream the server ended on its own: reconnect from where it was, as a client would.
        if (subscriber.socket === socket && !this.stopped) {
          subscriber.socket = undefined;
          this.closedByServer++;
          if (this.cut) void this.reconnect(subscriber, this.cut);
        }
      });
    });
  }

  private receive(subscriber: StormSubscriber, id: string, data: string): void {
    subscriber.lastEventId = id;
    const payload = decodePayload(data);
    if (!payload || payload.phase !== this.setup.phase || payload.seq >= subscriber.received.length) {
      this.unparsable++;
      return;
    }
    const { seq } = payload;
    if (subscriber.received[seq]) {
      subscriber.duplicates++;
      return;
    }
    subscriber.received[seq] = 1;
    this.deliveries++;
    if (seq < subscriber.maxSeen) subscriber.outOfOrder++;
    else subscriber.maxSeen = seq;
    while (subscriber.received[subscriber.contiguous]) subscriber.contiguous++;
    if (this.cut && Number.isNaN(subscriber.caughtUpMs) && subscriber.contiguous > this.cut.targetSeq) {
      subscriber.caughtUpMs = clockMs();
    }
  }

  progress(published: number): StormProgress {
    let headed = 0;
    let caughtUp = 0;
    let failed = 0;
    let complete = 0;
    for (const subscriber of this.subscribers) {
      if (!Number.isNaN(subscriber.headMs)) headed++;
      if (!Number.isNaN(subscriber.caughtUpMs)) caughtUp++;
      if (subscriber.failed) failed++;
      if (subscriber.contiguous >= published) complete++;
    }
    return {
      type: 'storm-progress',
      subscribers: this.subscribers.length,
      headed,
      caughtUp,
      failed,
      complete,
    };
  }

  /** Final accounting against the `published` sequence numbers 0 … published − 1. */
  report(published: number): StormReport {
    let lost = 0;
    let notBack = 0;
    let missingNotBack = 0;
    let duplicates = 0;
    let outOfOrder = 0;
    let failedReconnects = 0;
    const headMs: number[] = [];
    const caughtUpMs: number[] = [];
    for (const subscriber of this.subscribers) {
      if (subscriber.failed) failedReconnects++;
      if (!Number.isNaN(subscriber.headMs)) headMs.push(subscriber.headMs);
      if (!Number.isNaN(subscriber.caughtUpMs)) caughtUpMs.push(subscriber.caughtUpMs);
      let missing = 0;
      for (let seq = 0; seq < published; seq++) if (!subscriber.received[seq]) missing++;
      const back = !Number.isNaN(subscriber.headMs) || !this.cut;
      if (back) lost += missing;
      else {
        notBack++;
        missingNotBack += missing;
      }
      duplicates += subscriber.duplicates;
      outOfOrder += subscriber.outOfOrder;
    }
    return {
      type: 'storm-report',
      cutMs: this.cutMs,
      headMs,
      caughtUpMs,
      subscribers: this.subscribers.length,
      deliveries: this.deliveries,
      lost,
      notBack,
      missingNotBack,
      duplicates,
      outOfOrder,
      failedReconnects,
      retries: this.retries,
      refusals: this.refusals,
      attemptErrors: this.attemptErrors,
      closedByServer: this.closedByServer,
      unparsable: this.unparsable,
    };
  }

  close(): void {
    this.stopped = true;
    for (const subscriber of this.subscribers) {
      subscriber.socket?.removeAllListeners('close');
      subscriber.socket?.destroy();
      subscriber.socket = undefined;
    }
  }
}

function retryAfterMs(headerLines: readonly string[]): number | undefined {
  for (const line of headerLines) {
    const match = /^retry-after:\s*(\d+)\s*$/i.exec(line);
    // The jitter a server may add is its business; a little of our own keeps workers from lockstep.
    if (match) return Number(match[1]) * 1000 + Math.random() * 250;
  }
  return undefined;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
