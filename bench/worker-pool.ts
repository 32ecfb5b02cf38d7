/** The load worker processes of a run (`load-worker.ts`), driven over IPC, one request at a time each. */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { WorkerCommand, WorkerReply } from './load-worker.js';

export class WorkerPool {
  private readonly workers: ChildProcess[] = [];

  constructor(count: number) {
    for (let i = 0; i < count; i++) {
      this.workers.push(
        fork(path.join(import.meta.dirname, 'load-worker.ts'), [], {
          execArgv: ['--import', 'tsx'],
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        }),
      );
    }
  }

  get size(): number {
    return this.workers.length;
  }

  ask<T extends WorkerReply['type']>(
    index: number,
    command: WorkerCommand,
    replyType: T,
    timeoutMs: number,
  ): Promise<Extract<WorkerReply, { type: T }>> {
    const worker = this.workers[index] as ChildProcess;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        worker.off('message', listen);
        reject(new Error(`worker ${index} did not answer ${command.type} within ${timeoutMs} ms`));
      }, timeoutMs);
      const listen = (reply: WorkerReply): void => {
        if (reply.type !== replyType) return;
        clearTimeout(timer);
        worker.off('message', listen);
        resolve(reply as Extract<WorkerReply, { type: T }>);
      };
      worker.on('message', listen);
      worker.send(command);
    });
  }

  all<T extends WorkerReply['type']>(
    command: (index: number) => WorkerCommand,
    replyType: T,
    timeoutMs: number,
  ): Promise<Extract<WorkerReply, { type: T }>[]> {
    return Promise.all(this.workers.map((_, index) => this.ask(index, command(index), replyType, timeoutMs)));
  }

  close(): void {
    for (const worker of this.workers) worker.disconnect();
  }
}
