import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { afterEach } from 'vitest';
import type { HubServerOptions } from '../../src/server/app.js';
import type { HubConfig } from '../../src/server/config.js';
import { startTestHub } from './hub.js';
import type { TestHub } from './hub.js';
import { eventually as waitUntil } from './wait.js';

/**
 * Raw HTTP/1.1 exchanges with the standalone hub, for the tests of its lane (stream-lane.ts): the
 * same bytes sent to a hub with the lane and to one without, and what each answered.
 */

export interface Exchange {
  socket: Socket;
  text(): string;
  readonly closed: boolean;
}

export type LaneHub = TestHub & { nodeRequests: () => number };

/** An answer without what differs between any two answers: the date and a fresh request id. */
export function comparable(answer: string): string {
  return answer
    .replace(/\r\nDate: [^\r]*/g, '')
    .replace(/\r\nX-Request-Id: [^\r]*/g, '')
    .split('\r\n\r\n')
    .map((part, i) => (i === 0 ? part.split('\r\n').sort().join('\r\n') : part))
    .join('\r\n\r\n');
}

export const headEnd = (text: string): boolean => text.includes('\r\n\r\n');

/** The whole answers in `text` (Latin-1), each a head and a body of its Content-Length bytes. */
export function answersIn(text: string): string[] {
  const answers: string[] = [];
  for (let at = 0; ;) {
    const end = text.indexOf('\r\n\r\n', at);
    if (end === -1) return answers;
    const length = /\r\nContent-Length: (\d+)\r\n/i.exec(text.slice(at, end + 2))?.[1];
    if (length === undefined || text.length - end - 4 < Number(length)) return answers;
    answers.push(text.slice(at, end + 4 + Number(length)));
    at = end + 4 + Number(length);
  }
}

/** Whole answers with a body of Content-Length bytes each: how many are in. */
export const answeredCount = (text: string): number => answersIn(text).length;

/** A whole answer with a body of Content-Length bytes is in. */
export const answered = (text: string): boolean => answeredCount(text) >= 1;

/**
 * Hubs started with `config` (plus no demo page), and raw connections to them, all closed after
 * each test.
 */
export function laneTestKit(config: Partial<HubConfig>) {
  const hubs: TestHub[] = [];
  const sockets: Socket[] = [];

  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    await Promise.all(hubs.splice(0).map((hub) => hub.close(500)));
  });

  /** A hub, and how many requests node:http served on it (the lane's emit no `request` event). */
  async function hubWith(options: HubServerOptions): Promise<LaneHub> {
    const hub = await startTestHub({ ...options, config: { demo: false, ...config, ...options.config } });
    hubs.push(hub);
    let served = 0;
    hub.server.on('request', () => served++);
    return Object.assign(hub, { nodeRequests: () => served });
  }

  /** Sends `parts` on one new connection (each its own write, 20 ms apart) and records the answer. */
  function exchange(hub: TestHub, ...parts: string[]): Exchange {
    const socket = connect({ host: '127.0.0.1', port: Number(new URL(hub.url).port) });
    sockets.push(socket);
    let received = '';
    let closed = false;
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => (closed = true));
    socket.once('connect', () => {
      parts.forEach((part, i) => setTimeout(() => socket.write(part), i * 20));
    });
    return {
      socket,
      text: () => received,
      get closed() {
        return closed;
      },
    };
  }

  /** The answers to `request` from a hub with the lane and one without, and who served each. */
  async function bothWays(
    request: string[],
    until: (text: string) => boolean,
    options: HubServerOptions = {},
  ): Promise<{ lane: string; node: string; laneNodeRequests: number }> {
    const laneHub = await hubWith(options);
    const nodeHub = await hubWith({ ...options, streamLane: false });
    const viaLane = exchange(laneHub, ...request);
    const viaNode = exchange(nodeHub, ...request);
    await waitUntil(() => until(viaLane.text()) && until(viaNode.text()), 5000);
    return { lane: viaLane.text(), node: viaNode.text(), laneNodeRequests: laneHub.nodeRequests() };
  }

  return { hubWith, exchange, bothWays, sockets };
}
