/**
 * The deploy-storm publisher: publishes events on every topic at a steady rate, each on a fresh
 * connection (a stopped hub must not leave a stale keep-alive socket). A
 * refused connection or a 503 is retried until accepted, as a publisher behind a deploy does; a
 * connection that breaks after the request was sent leaves the outcome unknown (the event may be
 * stored, at most once) and the publisher moves on.
 */
import http from 'node:http';
import { clockMs } from './ledger.js';

type Outcome = { kind: 'accepted' } | { kind: 'refused'; status: number } | { kind: 'unknown' };

export interface PublishedEvent {
  topic: number;
  /** Per-topic sequence, from 0. */
  sequence: number;
  /** clockMs() when the publish was answered 2xx. */
  acceptedAt: number;
}

const PAD = 'x'.repeat(200);

export class StormPublisher {
  readonly accepted: PublishedEvent[] = [];
  readonly unknown: { topic: number; sequence: number }[] = [];
  refusals = 0;
  private running = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly port: number,
    private readonly topics: number,
    private readonly topicPrefix: string,
    private readonly eventsPerSecond: number,
    private readonly payloadBytes = 100,
  ) {}

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  /** Stops after the publish in progress (including its retries) has settled. */
  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  /** The newest per-topic sequence accepted, per topic. */
  lastAccepted(): (number | undefined)[] {
    const last: (number | undefined)[] = Array.from({ length: this.topics }, () => undefined);
    for (const event of this.accepted) last[event.topic] = event.sequence;
    return last;
  }

  /** Per topic, the first sequence accepted after `since` (clockMs). */
  firstAcceptedAfter(since: number): (number | undefined)[] {
    const first: (number | undefined)[] = Array.from({ length: this.topics }, () => undefined);
    for (const event of this.accepted) {
      if (event.acceptedAt > since && first[event.topic] === undefined) first[event.topic] = event.sequence;
    }
    return first;
  }

  /**
   * Publishes in rounds, one event on every topic per round, the topics of a round concurrently: the
   * first round the restarted hub accepts reaches every topic at once, so the catch-up is timed by
   * the hub and not by the publisher's round-robin. Rounds are sequential, so each topic's events
   * are published in order.
   */
  private async run(): Promise<void> {
    const interval = (1000 * this.topics) / this.eventsPerSecond;
    let due = clockMs();
    for (let round = 0; this.running; round++) {
      await Promise.all(
        Array.from({ length: this.topics }, async (_, topic) => {
          const head = `${topic}:${round}:`;
          const data = head + PAD.slice(0, Math.max(0, this.payloadBytes - head.length));
          const accepted = await this.publishUntilSettled(`${this.topicPrefix}${topic}`, data);
          if (accepted) this.accepted.push({ topic, sequence: round, acceptedAt: clockMs() });
          else this.unknown.push({ topic, sequence: round });
        }),
      );
      // A steady rate, without a burst to make up for the time spent retrying through the restart.
      due = Math.max(due + interval, clockMs());
      const wait = due - clockMs();
      if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  /** True once accepted; false when the outcome is unknown. Bounded: gives up after 60 s. */
  private async publishUntilSettled(topic: string, data: string): Promise<boolean> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const outcome = await publishOnce(this.port, topic, data);
      if (outcome.kind === 'accepted') return true;
      if (outcome.kind === 'unknown') return false;
      if (outcome.status !== 0 && outcome.status !== 503)
        throw new Error(`publish answered ${outcome.status}`);
      if (Date.now() > deadline) throw new Error(`publish of ${data} still refused after 60 s`);
      this.refusals++;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

function publishOnce(port: number, topic: string, data: string): Promise<Outcome> {
  const body = new URLSearchParams({ topic, data }).toString();
  return new Promise((resolve) => {
    let sent = false;
    const req = http.request({
      ...{ host: '127.0.0.1', port, path: '/.well-known/mercure', method: 'POST', agent: false },
      headers: {
        'Content-Type': 'application/x-www-form-urlencoded',
        'Content-Length': Buffer.byteLength(body),
      },
    });
    req.on('socket', (socket) => socket.once('connect', () => (sent = true)));
    req.on('error', (error: NodeJS.ErrnoException) => {
      resolve(!sent || error.code === 'ECONNREFUSED' ? { kind: 'refused', status: 0 } : { kind: 'unknown' });
    });
    req.on('response', (res) => {
      res.resume();
      res.on('error', () => resolve({ kind: 'unknown' }));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        resolve(status >= 200 && status < 300 ? { kind: 'accepted' } : { kind: 'refused', status });
      });
    });
    req.end(body);
  });
}
