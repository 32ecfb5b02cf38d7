/**
 * What a stream refused by `--max-stream-opens-per-second` costs the hub, against one it admits:
 * the standalone hub as a child process (JWT on, 100 retained events of 200 bytes), and N
 * resumes from `earliest` over raw sockets, 20 at a time; the hub's CPU (utime + stime from
 * /proc) divided by N. Run: node --import tsx bench/stream-open-refusal.ts [N]
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { SignJWT } from 'jose';
import type { JWTPayload } from 'jose';

const N = Number(process.argv[2] ?? 2000);
const LANES = 20;
const SECRET = 'bench-secret-of-at-least-thirty-two-bytes!!';
const KEY = new TextEncoder().encode(SECRET);
const LIMITED = ['--max-stream-opens-per-second', '1', '--stream-open-burst', '1'];
/** /proc/<pid>/stat counts CPU in clock ticks of 10 ms (USER_HZ 100). */
const TICK_MS = 10;

function cpuMs(pid: number): number {
  const fields = (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1] ?? '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
}

async function startHub(port: number, extra: readonly string[]): Promise<ChildProcess> {
  const args = ['--import', 'tsx', 'src/server/cli.ts', '--port', String(port), '--host', '127.0.0.1'];
  const child = spawn(process.execPath, [...args, '--no-demo', '--jwt-key', SECRET, ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (let i = 0; i < 100; i++) {
    try {
      await fetch(`http://127.0.0.1:${port}/healthz`);
      return child;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error('the hub did not start');
}

/** One resume from `earliest`: its status, once the head (and for a 200 the last event) arrived. */
function resume(port: number, token: string): Promise<number> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      if (!received.includes('\r\n\r\n')) return;
      const status = Number(received.slice(9, 12));
      if (status === 200 && !received.includes('event-99-')) return;
      socket.destroy();
      resolve(status);
    });
    socket.on('error', () => resolve(0));
    socket.write(
      'GET /.well-known/mercure?topic=t HTTP/1.1\r\nHost: hub\r\nAccept: text/event-stream\r\n' +
        `Authorization: Bearer ${token}\r\nLast-Event-ID: earliest\r\n\r\n`,
    );
  });
}

async function measure(label: string, extra: readonly string[]): Promise<void> {
  const port = 20_000 + Math.floor(Math.random() * 10_000);
  const hub = await startHub(port, extra);
  const sign = (claims: JWTPayload) => new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(KEY);
  const [subscriber, publisher] = await Promise.all([
    sign({ mercure: { subscribe: ['*'] } }),
    sign({ mercure: { publish: ['*'] } }),
  ]);
  for (let i = 0; i < 100; i++) {
    await fetch(`http://127.0.0.1:${port}/.well-known/mercure`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${publisher}`, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: `topic=t&data=event-${i}-${'x'.repeat(200)}`,
    });
  }
  const before = cpuMs(hub.pid as number);
  const statuses = new Map<number, number>();
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next++ < N) {
      const status = await resume(port, subscriber);
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: LANES }, lane));
  const perOpen = ((cpuMs(hub.pid as number) - before) * 1000) / N;
  console.log(
    `${label}: ${perOpen.toFixed(0)} µs of hub CPU per open; answers ${JSON.stringify([...statuses])}`,
  );
  hub.kill('SIGKILL');
}

for (let run = 0; run < 2; run++) {
  await measure('admitted', []);
  await measure('refused ', LIMITED);
}
console.log(`load average: ${readFileSync('/proc/loadavg', 'utf8').trim()}`);
