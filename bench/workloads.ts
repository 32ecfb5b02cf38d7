/**
 * `npm run bench -- --workload=storm|per-user|publish`: the issue 14 workloads, run like the
 * fan-out bench: a fresh server per case, the systems in alternation (A B C A B C), every case
 * bounded in time, results written after each case, same-run ratios of medians at the end.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  perUserTable,
  publishTable,
  requestPathLine,
  runPerUser,
  runPublishThroughput,
} from './request-path.js';
import type { RequestPathResult } from './request-path.js';
import { runStorm, stormLine, stormRatios, stormTable } from './storm.js';
import type { StormResult } from './storm.js';
import type { SystemDefinition } from './systems.js';
import type { WorkerPool } from './worker-pool.js';

export type Workload = 'storm' | 'per-user' | 'publish';

export interface WorkloadOptions {
  workload: Workload;
  ns: number[];
  reps: number;
  eventsPerSec: number;
  warmupMs: number;
  durationMs: number;
  connections: number;
  payloadBytes: number;
  profile: string | undefined;
  maxMinutes: number;
  out: string;
}

type AnyResult = StormResult | RequestPathResult;

export async function runWorkload(
  options: WorkloadOptions,
  systems: SystemDefinition[],
  pool: WorkerPool,
  workDir: string,
  header: Record<string, unknown>,
): Promise<void> {
  const deadline = Date.now() + options.maxMinutes * 60_000;
  const results: AnyResult[] = [];
  // Publish throughput has no subscribers: one "N" (0) whatever --n says.
  const ns = options.workload === 'publish' ? [0] : options.ns;
  const runnable = systems.filter((system) => options.workload !== 'per-user' || system.perUser);
  let phase = 1000;
  outer: for (const n of ns) {
    for (let rep = 1; rep <= options.reps; rep++) {
      for (const definition of runnable) {
        if (Date.now() > deadline) {
          console.log(`note: --max-minutes=${options.maxMinutes} reached; remaining cases skipped`);
          break outer;
        }
        phase += 10;
        const result = await runCase(options, definition, pool, workDir, n, rep, phase);
        results.push(result);
        console.log(result.workload === 'storm' ? stormLine(result) : requestPathLine(result));
        writeFileSync(options.out, JSON.stringify({ ...header, options, results }, null, 1));
      }
    }
  }
  console.log('');
  for (const line of summaryLines(options.workload, results)) console.log(line);
  console.log(`\nresults: ${options.out}`);
}

async function runCase(
  options: WorkloadOptions,
  definition: SystemDefinition,
  pool: WorkerPool,
  workDir: string,
  n: number,
  rep: number,
  phase: number,
): Promise<AnyResult> {
  const profiling = options.profile === definition.name;
  const system = await definition.start({
    workDir,
    nodeFlags: profiling
      ? [
          '--cpu-prof',
          `--cpu-prof-dir=${path.resolve('bench', 'results')}`,
          `--cpu-prof-name=${definition.name}-${options.workload}-${n}-${rep}.cpuprofile`,
        ]
      : [],
  });
  try {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const requestOptions = {
      connections: options.connections,
      durationMs: options.durationMs,
      payloadBytes: options.payloadBytes,
    };
    switch (options.workload) {
      case 'storm':
        return await runStorm(definition, system, pool, n, rep, phase, {
          eventsPerSec: options.eventsPerSec,
          warmupMs: options.warmupMs,
          stormLimitMs: 90_000,
          payloadBytes: options.payloadBytes,
        });
      case 'per-user':
        return await runPerUser(definition, system, pool, n, rep, phase, requestOptions);
      case 'publish':
        return await runPublishThroughput(definition, system, pool, rep, phase, requestOptions);
    }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    console.log(`${definition.name} N=${n} rep ${rep}: ERROR ${message}`);
    throw error;
  } finally {
    await pool.all(() => ({ type: 'disconnect' }), 'disconnected', 30_000).catch(() => undefined);
    await system.stop();
  }
}

export function summaryLines(workload: Workload, results: readonly AnyResult[]): string[] {
  if (workload === 'storm') {
    const storms = results as StormResult[];
    return [stormTable(storms), '', ...stormRatios(storms, 'nchan'), ...stormRatios(storms, 'ssehub')];
  }
  const requests = results as RequestPathResult[];
  return workload === 'publish' ? publishTable(requests) : perUserTable(requests);
}
