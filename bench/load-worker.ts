/**
 * One load worker process: holds its share of the subscribers as raw sockets and records what they
 * receive. Driven by the coordinator over IPC (see `WorkerCommand`); exits when the coordinator goes.
 */
import net from 'node:net';
import { DeliveryRecorder, SubscriberLog, clockMs } from './ledger.js';
import type { PhaseLedgerJson } from './ledger.js';
import { SseResponseParser, subscribeRequest } from './sse-wire.js';

export interface ConnectCommand {
  type: 'connect';
  port: number;
  path: string;
  count: number;
  /** Source addresses to spread connections over (127.0.0.x), so ephemeral ports last. */
  localAddresses: string[];
  /** Connections waiting for their response head at once; keeps the listen backlog from overflowing. */
  concurrency: number;
  timeoutMs: number;
}

export type WorkerCommand =
  ConnectCommand | { type: 'progress' } | { type: 'collect' } | { type: 'disconnect' };

export type WorkerReply =
  | { type: 'connected'; open: number; failed: number; firstError: string | undefined; ms: number }
  | { type: 'progress'; deliveries: number; open: number; closedByServer: number }
  | { type: 'collected'; phases: PhaseLedgerJson[]; unparsable: number; closedByServer: number; open: number }
  | { type: 'disconnected' };

const sockets = new Set<net.Socket>();
let recorder = new DeliveryRecorder();
let closedByServer = 0;
let disconnecting = false;

function send(reply: WorkerReply): void {
  process.send?.(reply);
}

function openOne(command: ConnectCommand, localAddress: string): Promise<string | undefined> {
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
    socket.on('connect', () => socket.write(subscribeRequest(command.path, `127.0.0.1:${command.port}`)));
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
      const error = await openOne(command, address);
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
        phases: [...recorder.phases.values()].map((ledger) => ledger.toJSON()),
        unparsable: recorder.unparsable,
        closedByServer,
        open: sockets.size,
      });
      break;
    case 'disconnect':
      disconnect();
      break;
  }
});

process.on('disconnect', () => process.exit(0));
