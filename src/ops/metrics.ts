import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { RESET_REASONS } from '../hub/frame.js';
import type { HubObserver } from '../hub/hub.js';
import type { PresenceStats } from '../hub/presence.js';
import { CLOSE_REASONS } from '../hub/subscriber.js';
import { STORE_OPERATIONS } from './managed-store.js';

/** The admission limits a stream can be refused by (the http layer's `StreamRefusal`). */
const STREAM_REFUSALS = ['rate', 'full', 'subject'] as const;

/** Live values read at scrape time; bound once the server exists. */
export interface MetricSources {
  connections(): number;
  subscriptions(): number;
  ready(): boolean;
  /** Bytes of request bodies held (being read, or until their request ends). */
  requestBodyBytes?(): number;
  /** Presence, when the hub tracks active subscriptions. */
  presence?(): PresenceStats | undefined;
}

export interface HubMetricsOptions {
  /** Also export Node's process metrics (CPU, memory, event loop lag, GC). Default true. */
  processMetrics?: boolean;
}

/** Publish latency buckets in seconds: an in-memory append takes microseconds, Redis milliseconds. */
const LATENCY_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
];

/**
 * The hub's Prometheus metrics, in a registry of its own (several hubs may share a process). Labels
 * take values from small fixed sets (disconnect reasons, reset reasons, store operations): never a
 * topic, subject or id, so the series count stays bounded whatever clients send.
 */
export class HubMetrics {
  readonly registry = new Registry();
  readonly observer: HubObserver;
  private sources: MetricSources = { connections: () => 0, subscriptions: () => 0, ready: () => false };
  readonly storeErrors: Counter<'operation'>;
  /** Event streams refused by an admission limit, by which one (see `StreamRefusal`). */
  readonly streamsRefused: Counter<'refusal'>;

  constructor(options: HubMetricsOptions = {}) {
    const registers = [this.registry];
    const sources = () => this.sources;
    registerStateGauges(registers, sources);
    registerPresenceMetrics(registers, () => sources().presence?.());
    const subscriptions = new Counter({
      name: 'ssehub_subscriptions_total',
      help: 'Event streams opened',
      registers,
    });
    const disconnects = new Counter({
      name: 'ssehub_disconnects_total',
      help: `Event streams ended, by reason (${CLOSE_REASONS.join(', ')})`,
      labelNames: ['reason'],
      registers,
    });
    const published = new Counter({
      name: 'ssehub_events_published_total',
      help: 'Events stored and acknowledged to publishers',
      registers,
    });
    const delivered = new Counter({
      name: 'ssehub_events_delivered_total',
      help: 'Live events queued to subscribers (one per event per subscriber)',
      registers,
    });
    const replayed = new Counter({
      name: 'ssehub_events_replayed_total',
      help: 'Events sent from history to resuming subscribers',
      registers,
    });
    const resets = new Counter({
      name: 'ssehub_resets_sent_total',
      help: `"Cannot resume" signals (ssehub-reset events) sent, by reason (${RESET_REASONS.join(', ')})`,
      labelNames: ['reason'],
      registers,
    });
    const heartbeats = new Counter({
      name: 'ssehub_heartbeats_total',
      help: 'Heartbeat comments sent on idle streams',
      registers,
    });
    const latency = new Histogram({
      name: 'ssehub_publish_duration_seconds',
      help: 'Time for the store to accept a published event',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.storeErrors = new Counter({
      name: 'ssehub_store_errors_total',
      help: `Store operations that failed, by operation (${STORE_OPERATIONS.join(', ')})`,
      labelNames: ['operation'],
      registers,
    });
    this.streamsRefused = new Counter({
      name: 'ssehub_streams_refused_total',
      help: `Event streams refused by an admission limit, by which (${STREAM_REFUSALS.join(', ')}): rate is --max-stream-opens-per-second`,
      labelNames: ['refusal'],
      registers,
    });
    // Known label values start at zero, so rate() and alerts work before the first occurrence.
    for (const reason of CLOSE_REASONS) disconnects.inc({ reason }, 0);
    for (const reason of RESET_REASONS) resets.inc({ reason }, 0);
    for (const operation of STORE_OPERATIONS) this.storeErrors.inc({ operation }, 0);
    for (const refusal of STREAM_REFUSALS) this.streamsRefused.inc({ refusal }, 0);
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });

    this.observer = {
      published: (_event, latencyMs) => {
        published.inc();
        latency.observe(latencyMs / 1000);
      },
      delivered: (count) => delivered.inc(count),
      replayed: (count) => replayed.inc(count),
      resetSent: (reason) => resets.inc({ reason }),
      subscribed: () => subscriptions.inc(),
      unsubscribed: (_subscriber, reason) => disconnects.inc({ reason }),
      heartbeats: (count) => heartbeats.inc(count),
    };
  }

  bind(sources: MetricSources): void {
    this.sources = sources;
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}

/**
 * Presence read at scrape time from the hub's own counts (absent presence reads as zero). No label:
 * a per-topic series would grow with whatever topics clients name.
 */
function registerPresenceMetrics(registers: Registry[], stats: () => PresenceStats | undefined): void {
  const gauges: [string, string, keyof PresenceStats][] = [
    [
      'ssehub_presence_active_subscriptions',
      'Active subscriptions, on every hub sharing the store',
      'activeSubscriptions',
    ],
    [
      'ssehub_presence_occupied_selectors',
      'Topic selectors with at least one active subscription',
      'occupiedSelectors',
    ],
  ];
  for (const [name, help, field] of gauges) {
    new Gauge({
      name,
      help,
      registers,
      collect() {
        this.set(stats()?.[field] ?? 0);
      },
    });
  }
  const counters: [string, string, keyof PresenceStats][] = [
    [
      'ssehub_presence_commands_total',
      'Presence commands of every hub applied to the shared table',
      'commandsApplied',
    ],
    [
      'ssehub_presence_leases_reaped_total',
      'Hubs whose presence lease lapsed, reaped by this hub',
      'leasesReaped',
    ],
    [
      'ssehub_presence_grace_reconnects_total',
      'Subscriptions reopened within the grace period: inactive/active flaps prevented',
      'graceReconnects',
    ],
  ];
  for (const [name, help, field] of counters) {
    new Counter({
      name,
      help,
      registers,
      collect() {
        // The count lives in the presence layer; the counter mirrors it (it only grows there too).
        this.reset();
        this.inc(stats()?.[field] ?? 0);
      },
    });
  }
}

/** The hub's state as gauges read at scrape time, so they can never drift from the truth. */
function registerStateGauges(registers: Registry[], sources: () => MetricSources): void {
  new Gauge({
    name: 'ssehub_connections_open',
    help: 'Open client connections (TCP; an HTTP/2 connection carries many streams)',
    registers,
    collect() {
      this.set(sources().connections());
    },
  });
  new Gauge({
    name: 'ssehub_subscriptions_open',
    help: 'Open event streams',
    registers,
    collect() {
      this.set(sources().subscriptions());
    },
  });
  new Gauge({
    name: 'ssehub_request_body_bytes',
    help: 'Bytes of request bodies held by the hub at once (bounded by --max-body-bytes-in-flight)',
    registers,
    collect() {
      this.set(sources().requestBodyBytes?.() ?? 0);
    },
  });
  new Gauge({
    name: 'ssehub_ready',
    help: '1 when the hub accepts traffic (store ready, not draining), else 0',
    registers,
    collect() {
      this.set(sources().ready() ? 1 : 0);
    },
  });
}
