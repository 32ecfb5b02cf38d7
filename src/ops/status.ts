import type { HubObserver } from '../hub/hub.js';
import type { Readiness } from './health.js';
import { RateMeter } from './rate.js';

/** The demo page's status panel, as served by `GET /status`. */
export interface HubStatus {
  connections: number;
  subscriptions: number;
  /** Events published per second, averaged over the last 5 seconds. */
  eventsPerSecond: number;
  /** Live events queued to subscribers per second, averaged over the last 5 seconds. */
  deliveriesPerSecond: number;
  eventsPublished: number;
  store: { kind: string; ready: boolean };
  ready: boolean;
  readiness: string;
  draining: boolean;
  uptimeSeconds: number;
}

export interface StatusSources {
  connections(): number;
  subscriptions(): number;
  storeKind: string;
  storeReady(): boolean;
  readiness(): Readiness;
  draining(): boolean;
}

/** Counts what the status panel shows; its observer is one of the hub's. */
export class StatusBoard {
  private readonly published = new RateMeter();
  private readonly delivered = new RateMeter();
  private publishedTotal = 0;
  private readonly startedAt = Date.now();
  readonly observer: HubObserver = {
    published: () => {
      this.publishedTotal++;
      this.published.mark();
    },
    delivered: (count) => this.delivered.mark(count),
  };

  snapshot(sources: StatusSources): HubStatus {
    const readiness = sources.readiness();
    return {
      connections: sources.connections(),
      subscriptions: sources.subscriptions(),
      eventsPerSecond: round(this.published.perSecond()),
      deliveriesPerSecond: round(this.delivered.perSecond()),
      eventsPublished: this.publishedTotal,
      store: { kind: sources.storeKind, ready: sources.storeReady() },
      ready: readiness.ready,
      readiness: readiness.reason,
      draining: sources.draining(),
      uptimeSeconds: Math.floor((Date.now() - this.startedAt) / 1000),
    };
  }
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
