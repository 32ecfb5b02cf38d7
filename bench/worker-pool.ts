/**
 * The load worker processes of a run, driven over IPC, one request at a time each. By default the
 * fan-out bench's `load-worker.ts`; another bench passes its own worker script and message types.
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { WorkerCommand, WorkerReply } from './load-worker.js';

export class WorkerPool<
  Command extends { type: string } = WorkerCommand,
  Reply extends { type: string } = WorkerReply,
> {
  private readonly workers: ChildProcess[] = [];

  constructor(count: number, script = 'load-worker.ts') {
    for (let i = 0; i < count; i++) {
      this.workers.push(
        fork(path.join(import.meta.dirname, script), [], {
          execArgv: ['--import', 'tsx'],
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        }),
      );
    }
  }

  get size(): number {
    return this.workers.length;
  }

  ask<T extends Reply['type']>(
    index: number,
    command: Command,
    replyType: T,
    timeoutMs: number,
  ): Promise<Extract<Reply, { type: T }>> {
    const worker = this.workers[index] as ChildProcess;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        worker.off('message', listen);
        reject(new Error(`worker ${index} did not answer ${command.type} within ${timeoutMs} ms`));
      }, timeoutMs);
      const listen = (reply: Reply): void => {
        if (reply.type !== replyType) return;
        clearTimeout(timer);
        worker.off('message', listen);
        resolve(reply as Extract<Reply, { type: T }>);
      };
      worker.on('message', listen);
      worker.send(command);
    });
  }

  all<T extends Reply['type']>(
    command: (index: number) => Command,
    replyType: T,
    timeoutMs: number,
  ): Promise<Extract<Reply, { type: T }>[]> {
    return Promise.all(this.workers.map((_, index) => this.ask(index, command(index), replyType, timeoutMs)));
  }

  close(): void {
    for (const worker of this.workers) worker.disconnect();
  }
}

/** Waits until the load workers have counted `expected` deliveries, or nothing arrived for 3 s. */
export async function settleDeliveries(pool: WorkerPool, expected: number, limitMs: number): Promise<void> {
  const deadline = Date.now() + limitMs;
  let last = -1;
  let lastChange = Date.now();
  while (Date.now() < deadline) {
    const progress = await pool.all(() => ({ type: 'progress' }), 'progress', 10_000);
    const deliveries = progress.reduce((sum, reply) => sum + reply.deliveries, 0);
    if (deliveries >= expected) return;
    if (deliveries !== last) {
      last = deliveries;
      lastChange = Date.now();
    } else if (Date.now() - lastChange > 3000) return;
    await sleep(100);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
