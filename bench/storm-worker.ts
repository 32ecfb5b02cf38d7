/**
 * One load worker of the deploy-storm bench (`deploy-storm.ts`): holds its share of the subscribers
 * as raw sockets that behave like a resuming EventSource. When a stream ends, or a connection is
 * refused or answered anything but 200, the subscriber reconnects after a random delay with the
 * last event id it saw. Every received event is recorded (per-topic sequence and arrival time) so
 * that the coordinator can check exactly-once, in-order delivery and time the catch-up.
 *
 * Event data is `<topic index>:<per-topic sequence>:<padding>`. Driven over IPC; exits with the
 * coordinator.
 */
import net from 'node:net';
import { clockMs } from './ledger.js';
import { SseResponseParser } from './sse-wire.js';

export interface StormConnectCommand {
  type: 'connect';
  port: number;
  /** Global index of this worker's first subscriber; subscriber i listens to topic i mod topics. */
  first: number;
  count: number;
  topics: number;
  topicPrefix: string;
  /** Source addresses to spread connections over (127.0.0.x), so ephemeral ports last. */
  localAddresses: string[];
  /** Initial connections waiting for their response head at once. */
  concurrency: number;
  /** A reconnect waits a uniformly random delay in this range (ms). */
  reconnectDelayMs: [number, number];
}

/** What the coordinator knows of one topic's publishes once publishing has stopped. */
export interface TopicExpectation {
  /** Per-topic sequences answered 2xx: each must arrive exactly once, in order. */
  accepted: number[];
  /** Sequences whose publish outcome is unknown (connection broke after sending): at most once. */
  unknown: number[];
  /** The first sequence accepted by the restarted hub: its arrival marks "caught up". */
  marker: number | undefined;
}

export type StormCommand =
  | StormConnectCommand
  | { type: 'progress'; markers: (number | undefined)[]; lastAccepted: (number | undefined)[] }
  | { type: 'verify'; topics: TopicExpectation[]; since: number }
  | { type: 'stop' };

export interface StormVerdict {
  subscribers: number;
  /** Accepted events that never arrived. */
  lost: number;
  duplicates: number;
  outOfOrder: number;
  /** Events whose sequence was never published, or arrived on another topic's stream. */
  unexpected: number;
  resets: number;
  subscribersReset: number;
  /** Subscribers that never received their topic's marker. */
  notCaughtUp: number;
  /** Per subscriber: ms from `since` to the marker's arrival (only those caught up). */
  caughtUpMs: number[];
  /** Per subscriber: ms from `since` to its first 200 response head after `since`. */
  reconnectedMs: number[];
  /** Response heads other than 200, by status (0: refused or broken before a head). */
  failedAttempts: Record<string, number>;
}

export type StormReply =
  | { type: 'connected'; open: number; failed: number; firstError: string | undefined; ms: number }
  | { type: 'progress'; caughtUp: number; complete: number; received: number }
  | { type: 'verified'; verdict: StormVerdict }
  | { type: 'stopped' };

let failedAttempts: Record<string, number> = {};

class ResumingSubscriber {
  /** Per-topic sequences in arrival order, and when each arrived (clockMs). */
  readonly sequences: number[] = [];
  readonly arrivals: number[] = [];
  readonly openedAt: number[] = [];
  resets = 0;
  unexpected = 0;
  private stopped = false;
  private lastEventId: string | undefined;
  private socket: net.Socket | undefined;

  constructor(
    readonly topic: number,
    private readonly command: StormConnectCommand,
    private readonly localAddress: string,
  ) {}

  /** Connects; resolves with an error text, or undefined once the first stream answered 200. */
  connect(onFirstHead?: (error: string | undefined) => void): void {
    if (this.stopped) return;
    const { port, topicPrefix } = this.command;
    const socket = net.connect({ host: '127.0.0.1', port, localAddress: this.localAddress });
    this.socket = socket;
    let status = 0;
    const parser = new SseResponseParser({
      onHead: (code) => {
        status = code;
        if (code !== 200) return void socket.destroy();
        this.openedAt.push(clockMs());
        onFirstHead?.(undefined);
        onFirstHead = undefined;
      },
      onEvent: (id, data) => this.receive(id, data),
      onEnd: () => socket.destroy(),
    });
    socket.setEncoding('latin1');
    socket.on('data', (text: string) => {
      try {
        parser.push(text);
      } catch {
        socket.destroy();
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (status !== 200) failedAttempts[status] = (failedAttempts[status] ?? 0) + 1;
      if (this.stopped) return onFirstHead?.('stopped');
      const [min, max] = this.command.reconnectDelayMs;
      setTimeout(() => this.connect(onFirstHead), min + Math.random() * (max - min));
    });
    const resume = this.lastEventId === undefined ? '' : `Last-Event-ID: ${this.lastEventId}\r\n`;
    const topic = encodeURIComponent(`${topicPrefix}${this.topic}`);
    socket.write(
      `GET /.well-known/mercure?topic=${topic} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
        `Accept: text/event-stream\r\n${resume}\r\n`,
    );
  }

  stop(): void {
    this.stopped = true;
    this.socket?.destroy();
  }

  private receive(id: string, data: string): void {
    this.lastEventId = id;
    if (data.startsWith('{') && data.includes('"reason"')) {
      this.resets++;
      return;
    }
    const firstColon = data.indexOf(':');
    const secondColon = data.indexOf(':', firstColon + 1);
    if (Number(data.slice(0, firstColon)) !== this.topic || secondColon === -1) {
      this.unexpected++;
      return;
    }
    this.sequences.push(Number(data.slice(firstColon + 1, secondColon)));
    this.arrivals.push(clockMs());
  }
}

/** This run's subscribers (a run ends with `stop`, the next begins with `connect`). */
let subscribers: ResumingSubscriber[] = [];

function send(reply: StormReply): void {
  process.send?.(reply);
}

async function connectAll(command: StormConnectCommand): Promise<void> {
  const started = performance.now();
  let next = 0;
  let failed = 0;
  let firstError: string | undefined;
  const lane = async (): Promise<void> => {
    while (next < command.count) {
      const index = next++;
      const address = command.localAddresses[index % command.localAddresses.length] ?? '127.0.0.1';
      const subscriber = new ResumingSubscriber((command.first + index) % command.topics, command, address);
      subscribers.push(subscriber);
      // A subscriber whose first attempt fails keeps retrying; the lane waits at most 30 s for it.
      const error = await Promise.race([
        new Promise<string | undefined>((resolve) => subscriber.connect(resolve)),
        new Promise<string>((resolve) => setTimeout(() => resolve('no stream within 30 s'), 30_000)),
      ]);
      if (error !== undefined) {
        failed++;
        firstError ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, command.concurrency) }, lane));
  const open = command.count - failed;
  send({ type: 'connected', open, failed, firstError, ms: performance.now() - started });
}

/** How many subscribers have their topic's marker, and how many have its last accepted event. */
function progress(markers: (number | undefined)[], lastAccepted: (number | undefined)[]): StormReply {
  let caughtUp = 0;
  let complete = 0;
  let received = 0;
  for (const subscriber of subscribers) {
    received += subscriber.sequences.length;
    const marker = markers[subscriber.topic];
    if (marker !== undefined && subscriber.sequences.includes(marker)) caughtUp++;
    const last = lastAccepted[subscriber.topic];
    if (last === undefined || subscriber.sequences.includes(last)) complete++;
  }
  return { type: 'progress', caughtUp, complete, received };
}

function verify(topics: TopicExpectation[], since: number): StormVerdict {
  const verdict: StormVerdict = {
    subscribers: subscribers.length,
    ...{ lost: 0, duplicates: 0, outOfOrder: 0, unexpected: 0, resets: 0, subscribersReset: 0 },
    ...{ notCaughtUp: 0, caughtUpMs: [], reconnectedMs: [], failedAttempts },
  };
  const acceptedSets = topics.map((topic) => new Set(topic.accepted));
  const unknownSets = topics.map((topic) => new Set(topic.unknown));
  for (const subscriber of subscribers) {
    const expectation = topics[subscriber.topic] as TopicExpectation;
    const seen = new Set<number>();
    let newest = -1;
    for (const sequence of subscriber.sequences) {
      if (seen.has(sequence)) verdict.duplicates++;
      else if (sequence < newest) verdict.outOfOrder++;
      const known =
        acceptedSets[subscriber.topic]?.has(sequence) || unknownSets[subscriber.topic]?.has(sequence);
      if (!known) verdict.unexpected++;
      seen.add(sequence);
      newest = Math.max(newest, sequence);
    }
    for (const sequence of expectation.accepted) if (!seen.has(sequence)) verdict.lost++;
    verdict.unexpected += subscriber.unexpected;
    verdict.resets += subscriber.resets;
    if (subscriber.resets > 0) verdict.subscribersReset++;
    const markerIndex =
      expectation.marker === undefined ? -1 : subscriber.sequences.indexOf(expectation.marker);
    if (markerIndex === -1) verdict.notCaughtUp++;
    else verdict.caughtUpMs.push((subscriber.arrivals[markerIndex] as number) - since);
    const reopened = subscriber.openedAt.find((at) => at >= since);
    if (reopened !== undefined) verdict.reconnectedMs.push(reopened - since);
  }
  return verdict;
}

process.on('message', (command: StormCommand) => {
  switch (command.type) {
    case 'connect':
      void connectAll(command);
      break;
    case 'progress':
      send(progress(command.markers, command.lastAccepted));
      break;
    case 'verify':
      send({ type: 'verified', verdict: verify(command.topics, command.since) });
      break;
    case 'stop':
      for (const subscriber of subscribers) subscriber.stop();
      subscribers = [];
      failedAttempts = {};
      send({ type: 'stopped' });
      break;
  }
});

process.on('disconnect', () => process.exit(0));
