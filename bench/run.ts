/**
 * `npm run bench`: fan-out benchmark of ssehub against better-sse, a plain node:http loop and
 * nginx+nchan, measured in the same run, in alternation (A B C A B C), on loopback only.
 *
 *   npm run bench -- --quick                 short run (N = 1,000; about two minutes)
 *   npm run bench -- --n=1000,5000,10000,19500 --reps=2
 *   npm run bench -- --systems=ssehub,nchan --n=10000 --profile=ssehub   (writes a .cpuprofile)
 *
 * Other workloads (issue 14; see bench/workloads.ts and docs/benchmarks.md):
 *   npm run bench -- --workload=storm --n=1000,10000,19500 --rate=20
 *   npm run bench -- --workload=per-user --n=10000 --duration=5000
 *   npm run bench -- --workload=publish --systems=ssehub,ssehub-redis-aof,plain-node,nchan
 *
 * Every loop is bounded in count and time; the whole run stops at --max-minutes.
 */
import { cpus, loadavg, release } from 'node:os';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PhaseLedger, clockMs, encodePayload, median } from './ledger.js';
import { fmt, keptUpWith, markdownTable, ratioLines, summarize } from './summary.js';
import type { CaseResult, PhaseResult } from './summary.js';
import type { PhaseLedgerJson } from './ledger.js';
import type { ConnectCommand } from './load-worker.js';
import { settleDeliveries, WorkerPool } from './worker-pool.js';
import { runWorkload } from './workloads.js';
import type { Workload, WorkloadOptions } from './workloads.js';
import { ALL_SYSTEMS, cpuMs, ensureNchan, rssKb } from './systems.js';
import type { RunningSystem, SystemDefinition } from './systems.js';
import { parseFlags } from './flags.js';

interface Options {
  workload: 'fanout' | Workload;
  /** Storm: events published per second; before the cut for `warmupMs`, and on through the storm. */
  rate: number;
  warmupMs: number;
  /** Per-user and publish: how long the publishers run, and on how many keep-alive connections. */
  durationMs: number;
  connections: number;
  ns: number[];
  reps: number;
  events: number;
  intervalMs: number;
  payloadBytes: number;
  systems: string[];
  workers: number;
  ramp: boolean;
  rampRates: number[];
  rampStepMs: number;
  profile: string | undefined;
  maxMinutes: number;
  out: string;
}

function parseOptions(argv: string[]): Options {
  const flags = parseFlags(argv);
  const quick = flags.get('quick') === 'true';
  const workload = (flags.get('workload') ?? 'fanout') as Options['workload'];
  if (!['fanout', 'storm', 'per-user', 'publish'].includes(workload))
    throw new Error(`--workload must be fanout, storm, per-user or publish, not ${workload}`);
  const defaultNs: Record<Options['workload'], string> = {
    fanout: quick ? '1000' : '1000,5000,10000,19500',
    storm: quick ? '1000' : '1000,10000,19500',
    'per-user': quick ? '1000' : '10000',
    publish: '0',
  };
  const defaultSystems: Record<Options['workload'], string> = {
    fanout: 'ssehub,ssehub-redis,better-sse,plain-node,nchan',
    storm: 'ssehub,ssehub-redis,nchan,plain-node,better-sse',
    'per-user': 'ssehub,nchan',
    publish: 'ssehub,ssehub-redis-aof,plain-node,nchan',
  };
  const list = (name: string, fallback: string): string[] =>
    (flags.get(name) ?? fallback).split(',').filter(Boolean);
  const ns = list('n', defaultNs[workload]).map(Number);
  if (workload !== 'publish' && ns.some((n) => !Number.isInteger(n) || n < 1 || n > 19_500)) {
    throw new Error(
      '--n values must be integers in 1..19500 (a process here may hold at most 20,000 open files)',
    );
  }
  return {
    workload,
    rate: Number(flags.get('rate') ?? 20),
    warmupMs: Number(flags.get('warmup') ?? 2000),
    durationMs: Number(flags.get('duration') ?? (quick ? 3000 : 5000)),
    connections: Number(flags.get('connections') ?? 64),
    ns,
    reps: Number(flags.get('reps') ?? 2),
    events: Number(flags.get('events') ?? (quick ? 10 : 20)),
    intervalMs: Number(flags.get('interval') ?? 200),
    payloadBytes: Number(flags.get('payload') ?? 100),
    systems: list('systems', defaultSystems[workload]),
    workers: Number(flags.get('workers') ?? 4),
    ramp: flags.get('ramp') !== 'false',
    rampRates: list('ramp-rates', quick ? '10,50,100,200,500' : '2,5,10,20,50,100,200,500,1000').map(Number),
    rampStepMs: Number(flags.get('ramp-step') ?? (quick ? 1000 : 1500)),
    profile: flags.get('profile'),
    maxMinutes: Number(flags.get('max-minutes') ?? (quick ? 6 : 40)),
    out:
      flags.get('out') ??
      path.join(
        'bench',
        'results',
        `${workload === 'fanout' ? '' : `${workload}-`}${quick ? 'quick' : 'latest'}.json`,
      ),
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The load workers: each holds a share of the subscribers. */
class Bench {
  private nextPhase = 1;
  private totalPublished = 0;
  private readonly deadline: number;

  constructor(
    private readonly options: Options,
    private readonly pool: WorkerPool,
    startedAt: number,
  ) {
    this.deadline = startedAt + options.maxMinutes * 60_000;
  }

  timeLeft(): boolean {
    return Date.now() < this.deadline;
  }

  async runCase(definition: SystemDefinition, n: number, rep: number, workDir: string): Promise<CaseResult> {
    const profiling = this.options.profile === definition.name;
    const profileDir = path.resolve('bench', 'results');
    const system = await definition.start({
      workDir,
      nodeFlags: profiling
        ? [
            '--cpu-prof',
            `--cpu-prof-dir=${profileDir}`,
            `--cpu-prof-name=${definition.name}-${n}-${rep}.cpuprofile`,
          ]
        : [],
    });
    const result: CaseResult = {
      system: definition.name,
      n,
      rep,
      open: 0,
      failed: 0,
      firstError: undefined,
      connectMs: 0,
      rssBaseKb: 0,
      rssIdleKb: 0,
      rssPerConnectionKb: NaN,
      closedByServer: 0,
      fanout: undefined,
      ramp: [],
      sustainedDeliveriesPerSec: undefined,
      loadAverage: loadavg()[0] ?? NaN,
    };
    this.totalPublished = 0;
    try {
      await sleep(500);
      result.rssBaseKb = sumRss(system);
      const cpuBeforeConnect = sumCpu(system);
      const connected = await this.connect(system, n);
      Object.assign(result, connected);
      result.cpuUsPerConnect =
        result.open > 0 ? ((sumCpu(system) - cpuBeforeConnect) * 1000) / result.open : undefined;
      await sleep(1500);
      result.rssIdleKb = sumRss(system);
      result.rssPerConnectionKb = result.open > 0 ? (result.rssIdleKb - result.rssBaseKb) / result.open : NaN;
      result.fanout = await this.phase(
        system,
        result.open,
        this.options.events,
        1000 / this.options.intervalMs,
      );
      if (this.options.ramp) await this.ramp(system, result);
      const progress = await this.pool.all(() => ({ type: 'progress' }), 'progress', 10_000);
      result.closedByServer = progress.reduce((sum, reply) => sum + reply.closedByServer, 0);
    } catch (error) {
      result.error = error instanceof Error ? error.message : String(error);
    } finally {
      await this.pool.all(() => ({ type: 'disconnect' }), 'disconnected', 30_000).catch(() => undefined);
      await system.stop();
    }
    return result;
  }

  private async connect(
    system: RunningSystem,
    n: number,
  ): Promise<Pick<CaseResult, 'open' | 'failed' | 'firstError' | 'connectMs'>> {
    const share = (index: number): number =>
      Math.floor(n / this.pool.size) + (index < n % this.pool.size ? 1 : 0);
    const replies = await this.pool.all(
      (index): ConnectCommand => ({
        type: 'connect',
        port: system.port,
        path: system.subscribePath,
        count: share(index),
        // Ten source addresses per worker: ~280,000 ephemeral ports, so TIME_WAIT never runs out.
        localAddresses: Array.from({ length: 10 }, (_, k) => `127.0.0.${2 + index * 10 + k}`),
        concurrency: 64,
        timeoutMs: 30_000,
      }),
      'connected',
      180_000,
    );
    return {
      open: replies.reduce((sum, reply) => sum + reply.open, 0),
      failed: replies.reduce((sum, reply) => sum + reply.failed, 0),
      firstError: replies.find((reply) => reply.firstError)?.firstError,
      connectMs: Math.max(...replies.map((reply) => reply.ms)),
    };
  }

  /** Publishes `count` events at `eventsPerSec`, waits until they arrive (bounded), and accounts. */
  private async phase(
    system: RunningSystem,
    open: number,
    count: number,
    eventsPerSec: number,
  ): Promise<PhaseResult> {
    const phase = this.nextPhase++;
    const cpuBefore = sumCpu(system);
    const started = clockMs();
    const publishes: Promise<boolean>[] = [];
    const publishedAt: number[] = [];
    for (let seq = 0; seq < count; seq++) {
      const due = started + (seq * 1000) / eventsPerSec;
      const wait = due - clockMs();
      if (wait > 1) await sleep(wait);
      publishedAt[seq] = clockMs();
      const body = encodePayload(phase, seq, publishedAt[seq] as number, this.options.payloadBytes);
      publishes.push(
        system.publish(body).then(
          () => true,
          () => false,
        ),
      );
    }
    const outcomes = await Promise.all(publishes);
    const published = outcomes.filter(Boolean).length;
    this.totalPublished += published;
    await settleDeliveries(this.pool, open * this.totalPublished, 60_000);
    const serverCpuMs = sumCpu(system) - cpuBefore;
    const replies = await this.pool.all(() => ({ type: 'collect' }), 'collected', 30_000);
    const ledger = new PhaseLedger(phase);
    for (const reply of replies) {
      for (const json of reply.phases as PhaseLedgerJson[]) if (json.phase === phase) ledger.merge(json);
    }
    const reachMs = [...ledger.events.values()].map((reach) => reach.lastMs);
    const expected = open * published;
    let lastArrival = started;
    for (const [seq, reach] of ledger.events) {
      lastArrival = Math.max(lastArrival, (publishedAt[seq] ?? started) + reach.lastMs);
    }
    return {
      published,
      publishFailures: count - published,
      expected,
      deliveries: ledger.deliveries,
      lost: Math.max(0, expected - ledger.deliveries),
      duplicates: ledger.duplicates,
      outOfOrder: ledger.outOfOrder,
      reachMs,
      reachMedianMs: median(reachMs),
      reachMaxMs: reachMs.length ? Math.max(...reachMs) : NaN,
      p50Ms: ledger.histogram.quantile(0.5),
      p99Ms: ledger.histogram.quantile(0.99),
      deliveredPerSec: lastArrival > started ? ledger.deliveries / ((lastArrival - started) / 1000) : NaN,
      cpuUsPerDelivery: ledger.deliveries > 0 ? (serverCpuMs * 1000) / ledger.deliveries : NaN,
    };
  }

  /** Raises the publish rate step by step until latency climbs; every step is bounded. */
  private async ramp(system: RunningSystem, result: CaseResult): Promise<void> {
    let baseP50: number | undefined;
    for (const eventsPerSec of this.options.rampRates) {
      if (!this.timeLeft()) break;
      const offered = eventsPerSec * result.open;
      if (offered > 5_000_000) break;
      const count = Math.max(3, Math.round((eventsPerSec * this.options.rampStepMs) / 1000));
      const step = await this.phase(system, result.open, count, eventsPerSec);
      baseP50 ??= step.p50Ms;
      // "Latency starts to climb": the median doubles (plus 5 ms of slack) over the gentlest step, or anything is lost.
      const keptUp = keptUpWith(step, baseP50);
      result.ramp.push({ ...step, reachMs: [], eventsPerSec, offeredDeliveriesPerSec: offered, keptUp });
      if (!keptUp) break;
      result.sustainedDeliveriesPerSec = offered;
      await sleep(300);
    }
  }
}

function sumCpu(system: RunningSystem): number {
  return system.pids().reduce((sum, pid) => sum + cpuMs(pid), 0);
}

function sumRss(system: RunningSystem): number {
  return system.pids().reduce((sum, pid) => sum + rssKb(pid), 0);
}

export function machine(): Record<string, string | number> {
  return {
    nproc: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    kernel: release(),
  };
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const startedAt = Date.now();
  if (options.systems.includes('nchan')) {
    const note = ensureNchan();
    if (note) console.log(`note: ${note}; nchan is skipped.`);
  }
  const systems: SystemDefinition[] = [];
  for (const name of options.systems) {
    const definition = ALL_SYSTEMS.find((system) => system.name === name);
    if (!definition)
      throw new Error(`unknown system ${name}; known: ${ALL_SYSTEMS.map((s) => s.name).join(', ')}`);
    const reason = definition.unavailable();
    if (reason) console.log(`note: ${name} skipped: ${reason}`);
    else systems.push(definition);
  }
  const workDir = mkdtempSync(path.join(tmpdir(), 'ssehub-bench-'));
  mkdirSync(path.dirname(options.out), { recursive: true });
  const pool = new WorkerPool(options.workers);
  const bench = new Bench(options, pool, startedAt);
  const cases: CaseResult[] = [];
  console.log(
    `machine: ${JSON.stringify(machine())}; load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  console.log(
    `workload: ${options.workload}; systems: ${systems.map((s) => s.name).join(', ')}; N: ${options.ns.join(', ')}; reps: ${options.reps}`,
  );
  if (options.workload !== 'fanout') {
    const workloadOptions: WorkloadOptions = {
      workload: options.workload,
      ns: options.ns,
      reps: options.reps,
      eventsPerSec: options.rate,
      warmupMs: options.warmupMs,
      durationMs: options.durationMs,
      connections: options.connections,
      payloadBytes: options.payloadBytes,
      profile: options.profile,
      maxMinutes: options.maxMinutes,
      out: options.out,
    };
    const header = { machine: machine(), startedAt: new Date(startedAt).toISOString() };
    try {
      await runWorkload(workloadOptions, systems, pool, workDir, header);
    } finally {
      pool.close();
    }
    return;
  }
  try {
    outer: for (const n of options.ns) {
      for (let rep = 1; rep <= options.reps; rep++) {
        for (const definition of systems) {
          if (!bench.timeLeft()) {
            console.log(`note: --max-minutes=${options.maxMinutes} reached; remaining cases skipped`);
            break outer;
          }
          const result = await bench.runCase(definition, n, rep, workDir);
          cases.push(result);
          const f = result.fanout;
          console.log(
            `${definition.name.padEnd(11)} N=${n} rep ${rep}: open ${result.open}/${n} in ${fmt(result.connectMs)} ms, ` +
              `RSS/conn ${fmt(result.rssPerConnectionKb)} KB, CPU/connect ${fmt(result.cpuUsPerConnect)} µs, reach all median ${fmt(f?.reachMedianMs)} max ${fmt(f?.reachMaxMs)} ms, CPU/delivery ${fmt(f?.cpuUsPerDelivery)} µs, ` +
              `p50 ${fmt(f?.p50Ms)} p99 ${fmt(f?.p99Ms)} ms, lost ${f?.lost ?? '–'} dup ${f?.duplicates ?? '–'}, ` +
              `sustained ${result.sustainedDeliveriesPerSec?.toLocaleString('en-US') ?? '–'} deliveries/s` +
              (result.error ? ` ERROR ${result.error}` : '') +
              (result.firstError ? ` (first connect error: ${result.firstError})` : ''),
          );
          writeFileSync(
            options.out,
            JSON.stringify(
              { machine: machine(), options, startedAt: new Date(startedAt).toISOString(), cases },
              null,
              1,
            ),
          );
        }
      }
    }
  } finally {
    pool.close();
  }
  const rows = summarize(cases);
  console.log(`\n${markdownTable(rows)}`);
  for (const line of ratioLines(rows)) console.log(line);
  console.log(`\nresults: ${options.out}`);
}

if (process.argv[1] && import.meta.filename === path.resolve(process.argv[1])) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
