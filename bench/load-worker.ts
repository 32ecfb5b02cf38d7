/**
 * One load worker process: holds its share of the subscribers as raw sockets and records what they
 * receive. Driven by the coordinator over IPC (see `WorkerCommand`); exits when the coordinator goes.
 */
import net from 'node:net';
import { DeliveryRecorder, SubscriberLog, clockMs } from './ledger.js';
import type { PhaseLedgerJson } from './ledger.js';
import { SseResponseParser, subscribeRequest } from './sse-wire.js';
import { runPublishLoad } from './publish-load.js';
import type { PublishLoadCommand, PublishLoadReply } from './publish-load.js';
import { StormGroup } from './storm-subscribers.js';
import type {
  StormConnectCommand,
  StormCutCommand,
  StormProgress,
  StormReport,
} from './storm-subscribers.js';

export interface ConnectCommand {
  type: 'connect';
  port: number;
  /** Subscribe path; `{i}` becomes the subscriber's number (firstIndex + its index here). */
  path: string;
  count: number;
  /** This worker's first subscriber number, for `{i}` in `path`. */
  firstIndex?: number;
  /** Source addresses to spread connections over (127.0.0.x), so ephemeral ports last. */
  localAddresses: string[];
  /** Connections waiting for their response head at once; keeps the listen backlog from overflowing. */
  concurrency: number;
  timeoutMs: number;
}

export type WorkerCommand =
  | ConnectCommand
  | { type: 'progress' }
  /** `reach: false` leaves out the per-event reach (a workload with one recipient per event). */
  | { type: 'collect'; reach?: boolean }
  | { type: 'disconnect' }
  | StormConnectCommand
  | StormCutCommand
  | { type: 'storm-progress'; published: number }
  | { type: 'storm-report'; published: number }
  | PublishLoadCommand;

export type WorkerReply =
  | { type: 'connected'; open: number; failed: number; firstError: string | undefined; ms: number }
  | { type: 'progress'; deliveries: number; open: number; closedByServer: number }
  | { type: 'collected'; phases: PhaseLedgerJson[]; unparsable: number; closedByServer: number; open: number }
  | { type: 'disconnected' }
  | { type: 'storm-connected'; open: number; failed: number; firstError: string | undefined; ms: number }
  | { type: 'storm-cut-scheduled' }
  | StormProgress
  | StormReport
  | PublishLoadReply;

const sockets = new Set<net.Socket>();
let recorder = new DeliveryRecorder();
let closedByServer = 0;
let disconnecting = false;
let storm: StormGroup | undefined;

function send(reply: WorkerReply): void {
  process.send?.(reply);
}

function openOne(command: ConnectCommand, localAddress: string, index: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (error: string | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(error);
    };
    const log = new SubscriberLog();
    const socket = net.connect({ host: '127.0.0.1', port: command.port, localAddress });
    const timer = setTimeout(() => {
      socket.destroy();
      settle('timed out waiting for the response head');
    }, command.timeoutMs);
    const parser = new SseResponseParser({
      onHead: (status) => {
        if (status === 200) {
          sockets.add(socket);
          settle(undefined);
        } else {
          socket.destroy();
          settle(`HTTP ${status}`);
        }
      },
      onEvent: (_id, data) => recorder.receive(log, data, clockMs()),
    });
    socket.setEncoding('latin1');
    const path = command.path.replace('{i}', String((command.firstIndex ?? 0) + index));
    socket.on('connect', () => socket.write(subscribeRequest(path, `127.0.0.1:${command.port}`)));
    socket.on('data', (text: string) => {
      try {
        parser.push(text);
      } catch (error) {
        socket.destroy();
        settle(String(error));
      }
    });
    socket.on('error', (error) => settle(error.message));
    socket.on('close', () => {
      if (sockets.delete(socket) && !disconnecting) closedByServer++;
      settle('closed before the response head');
    });
  });
}

async function connect(command: ConnectCommand): Promise<void> {
  const started = performance.now();
  let next = 0;
  let failed = 0;
  let firstError: string | undefined;
  const lane = async (): Promise<void> => {
    while (next < command.count) {
      const index = next++;
      const address = command.localAddresses[index % command.localAddresses.length] ?? '127.0.0.1';
      const error = await openOne(command, address, index);
      if (error !== undefined) {
        failed++;
        firstError ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, command.concurrency) }, lane));
  send({ type: 'connected', open: sockets.size, failed, firstError, ms: performance.now() - started });
}

function disconnect(): void {
  disconnecting = true;
  for (const socket of sockets) socket.destroy();
  sockets.clear();
  storm?.close();
  storm = undefined;
  recorder = new DeliveryRecorder();
  closedByServer = 0;
  disconnecting = false;
  send({ type: 'disconnected' });
}

process.on('message', (command: WorkerCommand) => {
  switch (command.type) {
    case 'connect':
      void connect(command);
      break;
    case 'progress':
      send({ type: 'progress', deliveries: recorder.deliveries, open: sockets.size, closedByServer });
      break;
    case 'collect':
      send({
        type: 'collected',
        phases: [...recorder.phases.values()].map((ledger) => ledger.toJSON(command.reach ?? true)),
        unparsable: recorder.unparsable,
        closedByServer,
        open: sockets.size,
      });
      break;
    case 'disconnect':
      disconnect();
      break;
    case 'storm-connect': {
      const started = performance.now();
      storm?.close();
      const group = (storm = new StormGroup(command));
      void group
        .connectAll()
        .then((outcome) => send({ type: 'storm-connected', ...outcome, ms: performance.now() - started }));
      break;
    }
    case 'storm-cut':
      storm?.scheduleCut(command);
      send({ type: 'storm-cut-scheduled' });
      break;
    case 'storm-progress':
      if (storm) send(storm.progress(command.published));
      break;
    case 'storm-report':
      if (storm) send(storm.report(command.published));
      break;
    case 'publish-load':
      void runPublishLoad(command).then(send);
      break;
  }
});

process.on('disconnect', () => process.exit(0));
