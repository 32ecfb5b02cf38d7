import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import type { DestinationStream, Level, Logger } from 'pino';
import pretty from 'pino-pretty';
import type { HubObserver } from '../hub/hub.js';

export type { Logger } from 'pino';
export type LogLevel = Level | 'silent';

export interface LoggerOptions {
  level?: LogLevel;
  /** Human-readable lines instead of JSON. Default: when stdout is a terminal. */
  pretty?: boolean;
  /** Where lines go (tests); default stdout. */
  destination?: DestinationStream;
}

/** Longest a logged line waits in the buffer before it is written (ms). */
const LOG_FLUSH_MS = 250;

/** JSON lines for log collectors, colored readable lines when a person is watching a terminal. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'info';
  const base = { level, base: { service: 'ssehub' } };
  if (options.pretty ?? process.stdout.isTTY === true) {
    // Synchronous pretty-printing in-process: no worker thread, and nothing lost on process.exit.
    return pino(
      base,
      pretty({
        colorize: true,
        singleLine: true,
        sync: true,
        translateTime: 'SYS:HH:MM:ss.l',
        ignore: 'pid,hostname,service',
        destination: (options.destination as NodeJS.WritableStream | undefined) ?? 1,
      }),
    );
  }
  return pino(
    {
      ...base,
      // Level names and ISO times read better in collectors than numbers and epoch milliseconds.
      formatters: { level: (label) => ({ level: label }) },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    // Asynchronous and batched: lines go out in writes of 4 KB, or within LOG_FLUSH_MS of being
    // logged when fewer come. A stdout that takes every write at once (a file, /dev/null) would
    // otherwise cost a syscall per line: in a reconnect storm, a fifth of the CPU per reconnect.
    // pino flushes what is buffered when the process exits.
    options.destination ??
      pino.destination({ dest: 1, sync: false, minLength: 4096, periodicFlush: LOG_FLUSH_MS }),
  );
}

const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Fresh request ids are this process's random prefix and a counter: unique across processes and
 * restarts like random ids, without a trip to the kernel's random source for every request (which
 * was a measurable part of a reconnect storm's cost per connection).
 */
const REQUEST_ID_PREFIX = randomBytes(6).toString('base64url');
let requestCounter = 0;

/** A caller's `X-Request-Id` when it is safe to log and echo, else a fresh one. */
export function requestIdFrom(header: string | string[] | undefined): string {
  const given = Array.isArray(header) ? header[0] : header;
  if (given !== undefined && SAFE_REQUEST_ID.test(given)) return given;
  return `${REQUEST_ID_PREFIX}-${(++requestCounter).toString(36)}`;
}

/** Logs each stream's opening and end (with the reason), resume failures and publish failures. */
export function loggingObserver(logger: Logger, now: () => number = Date.now): HubObserver {
  return {
    published: (event, latencyMs, requestId) =>
      logger.debug(
        { requestId, eventId: event.id, topicCount: event.topics.length, latencyMs },
        'event published',
      ),
    publishFailed: (error, requestId) =>
      logger.warn({ requestId, err: error }, 'publish failed: store error'),
    resetSent: (reason, subscriber) =>
      logger.info(
        { requestId: subscriber.tag, reason },
        'cannot resume: ssehub-reset sent, stream continues live',
      ),
    replayed: (count, subscriber) => logger.debug({ requestId: subscriber.tag, count }, 'history replayed'),
    replayFailed: (error) =>
      logger.warn({ err: error }, 'replay failed: store error, stream ended so the client resumes'),
    subscribed: (subscriber) => {
      // Routine, as the normal ends below: debug. At info, the two lines of each reconnect were
      // a tenth of a reconnect storm's CPU; the metrics count every stream either way.
      if (!logger.isLevelEnabled('debug')) return;
      logger.debug(
        {
          requestId: subscriber.tag,
          subscriber: subscriber.id,
          subject: subscriber.subject,
          topicCount: subscriber.topicCount,
        },
        'stream opened',
      );
    },
    unsubscribed: (subscriber, reason) => {
      const routine = reason === 'client' || reason === 'shutdown';
      if (routine && !logger.isLevelEnabled('debug')) return;
      const fields = {
        requestId: subscriber.tag,
        subscriber: subscriber.id,
        subject: subscriber.subject,
        topicCount: subscriber.topicCount,
        reason,
        durationMs: now() - subscriber.openedAt,
      };
      if (reason === 'slow')
        logger.warn(fields, 'stream closed: subscriber too slow, it will resume from history');
      else if (routine) logger.debug(fields, `stream closed: ${reason}`);
      else logger.info(fields, `stream closed: ${reason}`);
    },
    heartbeats: (count) => logger.trace({ count }, 'heartbeats sent'),
  };
}
