/**
 * `npm run bench:connect`: server CPU per connecting subscriber, in a fresh process and in a warm
 * one, and per closed stream. Each system is started fresh; N raw subscribers connect (100 at a
 * time) and wait for their first bytes, and the server's CPU over that batch ÷ N is the cold figure.
 * They are closed, and a second batch of N on the same process gives the warm figure; then every
 * socket of that batch is reset at once (a storm's cut) for the cost of a close. Systems alternate (A B A B) for
 * `--reps`; loopback only, every loop bounded in count and time.
 *
 *   npm run bench:connect -- --n=10000 --reps=3 --systems=ssehub,plain-node,nchan
 *
 * Why both: in a fresh process much of a connect's CPU is V8 compiling the connect path (the fan-out
 * bench's "CPU per connect" is the cold figure); a hub that has served a while pays none of that.
 */
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseFlags } from './flags.js';
import { median } from './ledger.js';
import { ALL_SYSTEMS, cpuMs, ensureNchan } from './systems.js';
import type { RunningSystem } from './systems.js';

const flags = parseFlags(process.argv.slice(2));
const n = Number(flags.get('n') ?? 10_000);
const reps = Number(flags.get('reps') ?? 2);
const names = (flags.get('systems') ?? 'ssehub,plain-node,nchan').split(',');
const CONCURRENCY = 100;
const CONNECT_TIMEOUT_MS = 10_000;

if (!(Number.isInteger(n) && n >= 1 && n <= 19_500)) {
  throw new Error('--n must be an integer in 1..19500 (a process here may hold at most 20,000 open files)');
}

/** Opens one subscriber; resolves with its socket once the first bytes of its answer arrived. */
function subscriber(system: RunningSystem): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: system.port });
    const timer = setTimeout(() => reject(new Error('no answer within 10 s')), CONNECT_TIMEOUT_MS);
    socket.once('connect', () =>
      socket.write(
        `GET ${system.subscribePath} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`,
      ),
    );
    socket.once('data', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** Server CPU per subscriber (µs) for one batch of `n`; the sockets are returned open. */
async function batch(system: RunningSystem, sockets: Socket[]): Promise<number> {
  const cpu = () => system.pids().reduce((sum, pid) => sum + cpuMs(pid), 0);
  const before = cpu();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < n) {
        next++;
        sockets.push(await subscriber(system));
      }
    }),
  );
  // What the last answers set in motion (their flushes) belongs to the batch.
  await new Promise((resolve) => setTimeout(resolve, 300));
  return ((cpu() - before) * 1000) / n;
}

/**
 * Server CPU per closed stream (µs): every socket reset at once (as a storm's cut does), then the
 * server's CPU until it is idle again, less what an idle second costs it.
 */
async function resetAll(system: RunningSystem, sockets: Socket[]): Promise<number> {
  const cpu = () => system.pids().reduce((sum, pid) => sum + cpuMs(pid), 0);
  const idleBefore = cpu();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const idlePerSecond = cpu() - idleBefore;
  const before = cpu();
  for (const socket of sockets.splice(0)) socket.resetAndDestroy();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  return ((cpu() - before - idlePerSecond) * 1000) / n;
}

async function measure(name: string): Promise<{ cold: number; warm: number; close: number }> {
  const definition = ALL_SYSTEMS.find((system) => system.name === name);
  if (!definition) throw new Error(`unknown system ${name}`);
  const unavailable = definition.unavailable();
  if (unavailable) throw new Error(`${name}: ${unavailable}`);
  const system = await definition.start({ workDir: mkdtempSync(path.join(tmpdir(), 'ssehub-connect-')) });
  const sockets: Socket[] = [];
  try {
    const cold = await batch(system, sockets);
    for (const socket of sockets.splice(0)) socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const warm = await batch(system, sockets);
    const close = await resetAll(system, sockets);
    return { cold, warm, close };
  } finally {
    for (const socket of sockets) socket.destroy();
    await system.stop();
  }
}

if (names.includes('nchan')) {
  const note = ensureNchan();
  if (note) console.log(note);
}
const results = new Map<string, { cold: number[]; warm: number[]; close: number[] }>(
  names.map((name) => [name, { cold: [], warm: [], close: [] }]),
);
for (let rep = 1; rep <= reps; rep++) {
  for (const name of names) {
    const measured = await measure(name);
    const entry = results.get(name) as { cold: number[]; warm: number[]; close: number[] };
    entry.cold.push(measured.cold);
    entry.warm.push(measured.warm);
    entry.close.push(measured.close);
    console.log(
      `${name.padEnd(14)} N=${n} rep ${rep}: connect ${measured.cold.toFixed(1)} µs fresh, ` +
        `${measured.warm.toFixed(1)} µs warm; close (reset) ${measured.close.toFixed(1)} µs`,
    );
  }
}
const range = (values: number[]) =>
  `${Math.min(...values).toFixed(0)}–${Math.max(...values).toFixed(0)} µs (median ${median(values).toFixed(0)})`;
console.log(
  '\n| system | N | CPU per connect, fresh process | CPU per connect, warm | CPU per close (reset) |\n|---|---|---|---|---|',
);
for (const [name, { cold, warm, close }] of results)
  console.log(`| ${name} | ${n} | ${range(cold)} | ${range(warm)} | ${range(close)} |`);
