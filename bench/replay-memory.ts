/**
 * `npm run bench:replay`: replay memory and rate of the sqlite store with a large history.
 *
 * A data directory is filled with `--events` (1,000,000) events over `--topics` (1,000) topics,
 * directly through SqliteStore, then the built standalone hub is started on it with a history of
 * that size, and a subscriber resumes from the oldest event's id:
 *   (a) to every topic (`topic=*`): the whole history streams; hub RSS (peak over idle), events/s, MB/s;
 *   (b) to one exact topic: only its events stream, through the topic index; time and hub CPU;
 *   (c) to every topic, but the reader stops reading: the hub's RSS must not follow the history.
 * Every replay is checked: every expected event once, in order, no reset.
 *
 *   bash bench/with-fd-limit.sh bench/replay-memory.ts [--events=1000000] [--topics=1000] [--runs=2]
 *     [--data-dir=<filled dir to reuse>] [--stall-ms=5000]
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { SqliteStore } from '../src/store/sqlite/index.js';
import { clockMs, median } from './ledger.js';
import { machine } from './run.js';
import { SseResponseParser } from './sse-wire.js';
import { StandaloneHub } from './standalone-hub.js';
import { cpuMs, freePort, rssKb } from './systems.js';
import { parseFlags } from './flags.js';

interface Options {
  events: number;
  topics: number;
  runs: number;
  payloadBytes: number;
  dataDir: string | undefined;
  stallMs: number;
  out: string;
}

function parseOptions(argv: string[]): Options {
  const flags = parseFlags(argv);
  return {
    events: Number(flags.get('events') ?? 1_000_000),
    topics: Number(flags.get('topics') ?? 1000),
    runs: Number(flags.get('runs') ?? 2),
    payloadBytes: Number(flags.get('payload') ?? 100),
    dataDir: flags.get('data-dir'),
    stallMs: Number(flags.get('stall-ms') ?? 5000),
    out: flags.get('out') ?? path.join('bench', 'results', 'replay-memory.json'),
  };
}

const TOPIC_PREFIX = 'urn:replay:';
const PAD = 'x'.repeat(500);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Event n: topic n mod topics, data `<n>:` padded to the payload size. */
function dataOf(n: number, payloadBytes: number): string {
  const head = `${n}:`;
  return head + PAD.slice(0, Math.max(0, payloadBytes - head.length));
}

/** Fills `dataDir` with the history; returns the oldest event's id and how long it took. */
async function fill(dataDir: string, options: Options): Promise<{ oldestId: string; ms: number }> {
  const started = performance.now();
  // `normal` sync: the fill is set-up, not what is measured; one transaction per 1,000 appends.
  const store = SqliteStore.open({ dataDir, historySize: options.events, sync: 'normal' });
  let oldestId = '';
  try {
    for (let first = 0; first < options.events; first += 1000) {
      const count = Math.min(1000, options.events - first);
      const stored = await Promise.all(
        Array.from({ length: count }, (_, k) =>
          store.append({
            topics: [`${TOPIC_PREFIX}${(first + k) % options.topics}`],
            data: dataOf(first + k, options.payloadBytes),
          }),
        ),
      );
      if (first === 0) oldestId = stored[0]?.id ?? '';
    }
  } finally {
    await store.close();
  }
  return { oldestId, ms: performance.now() - started };
}

interface ReplayResult {
  events: number;
  bytes: number;
  ms: number;
  /** Events missing, repeated or out of order against the expected sequence, and resets. */
  errors: number;
  resets: number;
  peakRssMb: number;
  hubCpuMs: number;
}

/**
 * Subscribes with `Last-Event-ID` and reads as fast as it can until `expected` events (numbered
 * `expectedFrom`, `+step`, …) have arrived or `timeoutMs` passes, sampling the hub's RSS meanwhile.
 */
function replay(
  hub: StandaloneHub,
  topic: string,
  lastEventId: string,
  expected: { count: number; first: number; step: number },
  timeoutMs: number,
): Promise<ReplayResult> {
  const cpuBefore = cpuMs(hub.pid);
  const result: ReplayResult = {
    events: 0,
    bytes: 0,
    ms: 0,
    errors: 0,
    resets: 0,
    peakRssMb: rssKb(hub.pid) / 1024,
    hubCpuMs: 0,
  };
  const sampler = setInterval(
    () => (result.peakRssMb = Math.max(result.peakRssMb, rssKb(hub.pid) / 1024)),
    50,
  );
  const started = clockMs();
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port: hub.port });
    const finish = (): void => {
      clearInterval(sampler);
      clearTimeout(timer);
      result.ms = clockMs() - started;
      result.hubCpuMs = cpuMs(hub.pid) - cpuBefore;
      result.errors += expected.count - result.events;
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(finish, timeoutMs);
    let next = expected.first;
    const parser = new SseResponseParser({
      onHead: (status) => {
        if (status !== 200) finish();
      },
      onEvent: (_id, data) => {
        if (data.startsWith('{') && data.includes('"reason"')) return void result.resets++;
        if (Number(data.slice(0, data.indexOf(':'))) !== next) result.errors++;
        next += expected.step;
        if (++result.events >= expected.count) finish();
      },
    });
    socket.setEncoding('latin1');
    socket.on('data', (text: string) => {
      result.bytes += text.length;
      parser.push(text);
    });
    socket.on('error', finish);
    socket.write(
      `GET /.well-known/mercure?topic=${encodeURIComponent(topic)} HTTP/1.1\r\nHost: 127.0.0.1:${hub.port}\r\n` +
        `Accept: text/event-stream\r\nLast-Event-ID: ${lastEventId}\r\n\r\n`,
    );
  });
}

/** Opens an all-topics replay and never reads it: returns the hub's RSS growth over `ms`. */
async function stalledReplay(hub: StandaloneHub, lastEventId: string, ms: number): Promise<number> {
  const before = rssKb(hub.pid);
  let peak = before;
  const socket = net.connect({ host: '127.0.0.1', port: hub.port });
  socket.write(
    `GET /.well-known/mercure?topic=* HTTP/1.1\r\nHost: 127.0.0.1:${hub.port}\r\n` +
      `Accept: text/event-stream\r\nLast-Event-ID: ${lastEventId}\r\n\r\n`,
  );
  socket.once('data', () => socket.pause()); // the response head and a first chunk, then nothing
  const until = Date.now() + ms;
  while (Date.now() < until) {
    await sleep(50);
    peak = Math.max(peak, rssKb(hub.pid));
  }
  socket.destroy();
  return (peak - before) / 1024;
}

interface RunResult {
  run: number;
  loadAverage: number;
  idleRssMb: number;
  all: ReplayResult;
  oneTopic: ReplayResult;
  stalledRssGrowthMb: number;
}

async function measureRun(
  dataDir: string,
  oldestId: string,
  options: Options,
  run: number,
): Promise<RunResult> {
  const args = ['--store', 'sqlite', '--data-dir', dataDir, '--history-size', String(options.events)];
  const hub = await StandaloneHub.start(await freePort(), [...args, '--publish-rate', '0']);
  try {
    const loadAverage = loadavg()[0] ?? NaN;
    await sleep(1000);
    const idleRssMb = rssKb(hub.pid) / 1024;
    // Resuming from event 0's id: events 1 … events-1 are due.
    const all = await replay(hub, '*', oldestId, { count: options.events - 1, first: 1, step: 1 }, 300_000);
    const topicIndex = Math.floor(options.topics / 2) + 17;
    const oneTopic = await replay(
      hub,
      `${TOPIC_PREFIX}${topicIndex}`,
      oldestId,
      {
        count: Math.floor((options.events - 1 - topicIndex) / options.topics) + 1,
        first: topicIndex,
        step: options.topics,
      },
      60_000,
    );
    const stalledRssGrowthMb = await stalledReplay(hub, oldestId, options.stallMs);
    return { run, loadAverage, idleRssMb, all, oneTopic, stalledRssGrowthMb };
  } finally {
    await hub.stop('SIGTERM');
  }
}

function describe(result: RunResult, stallMs: number): string {
  const { all, oneTopic } = result;
  const rate = (r: ReplayResult): string =>
    `${Math.round(r.events / (r.ms / 1000)).toLocaleString('en-US')} events/s, ${(r.bytes / 1e6 / (r.ms / 1000)).toFixed(1)} MB/s`;
  return (
    `run ${result.run} (load ${result.loadAverage.toFixed(1)}): idle RSS ${result.idleRssMb.toFixed(0)} MB; ` +
    `(a) all topics: ${all.events} events in ${(all.ms / 1000).toFixed(1)} s (${rate(all)}), peak RSS ${all.peakRssMb.toFixed(0)} MB, ` +
    `hub CPU ${(all.hubCpuMs / 1000).toFixed(1)} s, errors ${all.errors}, resets ${all.resets}; ` +
    `(b) one topic: ${oneTopic.events} events in ${oneTopic.ms.toFixed(0)} ms, hub CPU ${oneTopic.hubCpuMs.toFixed(0)} ms, ` +
    `peak RSS ${oneTopic.peakRssMb.toFixed(0)} MB, errors ${oneTopic.errors}, resets ${oneTopic.resets}; ` +
    `(c) stalled reader: RSS +${result.stalledRssGrowthMb.toFixed(1)} MB over ${stallMs} ms`
  );
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  mkdirSync(path.dirname(options.out), { recursive: true });
  console.log(`machine: ${JSON.stringify(machine())}; options: ${JSON.stringify(options)}`);
  const ownDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? mkdtempSync(path.join(tmpdir(), 'ssehub-bench-replay-'));
  const idFile = path.join(dataDir, 'bench-oldest-id');
  try {
    let oldestId: string;
    if (!ownDir && existsSync(idFile)) {
      oldestId = readFileSync(idFile, 'utf8');
      console.log(`reusing the history in ${dataDir}`);
    } else {
      const filled = await fill(dataDir, options);
      oldestId = filled.oldestId;
      writeFileSync(idFile, oldestId);
      const fileMb = statSync(path.join(dataDir, 'events.sqlite')).size / 1e6;
      console.log(
        `filled ${options.events} events in ${(filled.ms / 1000).toFixed(1)} s; file ${fileMb.toFixed(0)} MB`,
      );
    }
    const results: RunResult[] = [];
    for (let run = 1; run <= options.runs; run++) {
      results.push(await measureRun(dataDir, oldestId, options, run));
      console.log(describe(results[results.length - 1] as RunResult, options.stallMs));
      writeFileSync(options.out, JSON.stringify({ machine: machine(), options, results }, null, 1));
    }
    const med = (pick: (result: RunResult) => number): number => median(results.map(pick));
    console.log(
      `\nmedian of ${results.length}: idle RSS ${med((r) => r.idleRssMb).toFixed(0)} MB; ` +
        `(a) ${Math.round(med((r) => r.all.events / (r.all.ms / 1000)))} events/s, ` +
        `${med((r) => r.all.bytes / 1e6 / (r.all.ms / 1000)).toFixed(1)} MB/s, peak RSS ${med((r) => r.all.peakRssMb).toFixed(0)} MB; ` +
        `(b) ${med((r) => r.oneTopic.ms).toFixed(0)} ms; (c) +${med((r) => r.stalledRssGrowthMb).toFixed(1)} MB\nresults: ${options.out}`,
    );
  } finally {
    if (ownDir) rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
