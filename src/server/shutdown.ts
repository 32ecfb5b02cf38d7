import type { ServerResponse } from 'node:http';
import type { Hub } from '../hub/hub.js';
import type { ConnectionTracker } from '../ops/connections.js';
import type { Logger } from '../ops/logger.js';
import type { ManagedStore } from '../ops/managed-store.js';
import type { HubHttpServer } from './listener.js';

/** Publishes answered by this instance but not yet answered: shutdown waits for each. */
export class InFlightPublishes {
  private count = 0;
  private readonly settledWaiters = new Set<() => void>();

  get size(): number {
    return this.count;
  }

  /** Counts a publish until its response closes (answered, or its client gone). */
  track(res: ServerResponse): void {
    res.on('close', this.begin());
  }

  /** Counts a publish until the returned function is called (once), when it is answered. */
  begin(): () => void {
    this.count++;
    return () => {
      this.count--;
      if (this.count === 0) for (const settled of [...this.settledWaiters]) settled();
    };
  }

  /** Resolves true once none is in flight, false if some still are at the deadline. */
  settled(deadline: number): Promise<boolean> {
    if (this.count === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(false), Math.max(0, deadline - Date.now()));
      const settled = () => finish(true);
      const finish = (done: boolean) => {
        clearTimeout(timer);
        this.settledWaiters.delete(settled);
        resolve(done);
      };
      this.settledWaiters.add(settled);
    });
  }
}

export interface ShutdownParts {
  server: HubHttpServer;
  hub: Hub;
  store: ManagedStore;
  connections: ConnectionTracker;
  publishes: InFlightPublishes;
  /** How long readiness answers 503 before requests are refused (capped by the timeout). */
  drainDelayMs: number;
  logger?: Logger | undefined;
  /** Runs once the server has stopped listening, before the store is closed. */
  beforeStoreCloses(): void | Promise<void>;
}

/**
 * Graceful shutdown and drain, in the order that loses nothing: readiness turns 503 (load
 * balancers route elsewhere) while requests are still served; then new requests are refused, the
 * in-flight publishes are answered, appends refused, and every stream ends after its queued events
 * (clients reconnect elsewhere and resume); connections still open at the deadline are destroyed,
 * and the store is closed. Runs once, whoever asks again gets the same promise.
 */
export class GracefulShutdown {
  /** Readiness is 503 (load balancers stop routing here); requests are still served. */
  draining = false;
  /** New hub requests are refused; streams are about to end. */
  refusing = false;
  private closing: Promise<void> | undefined;

  constructor(private readonly parts: ShutdownParts) {}

  run(timeoutMs: number): Promise<void> {
    return (this.closing ??= this.sequence(timeoutMs));
  }

  private async sequence(timeoutMs: number): Promise<void> {
    const { server, hub, store, connections, publishes, logger } = this.parts;
    const deadline = Date.now() + timeoutMs;
    this.draining = true;
    const delayMs = Math.min(this.parts.drainDelayMs, timeoutMs);
    logger?.info(
      {
        subscriptions: hub.stats().subscribers,
        publishesInFlight: publishes.size,
        timeoutMs,
        drainDelayMs: delayMs,
      },
      'shutting down: readiness is 503',
    );
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    this.refusing = true;
    logger?.info('shutting down: no new connections or requests, waiting for in-flight publishes');
    const stoppedListening = new Promise<void>((resolve) => {
      if (!server.listening) return resolve();
      server.close(() => resolve());
    });
    connections.drain();
    if (!(await publishes.settled(deadline))) {
      logger?.warn(
        { publishesInFlight: publishes.size },
        'shutdown: publishes still in flight at the deadline',
      );
    }
    // Past this point an acknowledged publish could reach no stream of this instance.
    store.refuseAppends('hub is shutting down; publish to another instance');
    await hub.close();
    connections.drain();
    if (!(await connections.whenEmpty(deadline))) {
      logger?.warn(
        { connections: connections.size },
        'shutdown: closing connections still open at the deadline',
      );
      connections.destroyAll();
    }
    await stoppedListening;
    await this.parts.beforeStoreCloses();
    await store.close();
    logger?.info('shutdown complete');
  }
}
