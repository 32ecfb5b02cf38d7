/**
 * `node --import tsx bench/storm-report.ts STORM.json [BEFORE_AFTER.json] [PUBLISH.json] [PER_USER.json]`:
 * turns the issue 14 workloads' results into the tables of docs/benchmarks.md (the part between
 * the `bench:storm` markers is replaced) and the storm chart (docs/benchmarks-storm.svg).
 * A file given as `-` is left out.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { latencyChart } from './chart.js';
import type { ChartSeries } from './chart.js';
import { median } from './ledger.js';
import { perUserTable, publishTable } from './request-path.js';
import type { RequestPathResult } from './request-path.js';
import { stormRatios, stormTable } from './storm.js';
import type { StormResult } from './storm.js';

const START = '<!-- bench:storm:start -->';
const END = '<!-- bench:storm:end -->';

interface WorkloadFile<T> {
  machine: Record<string, string | number>;
  startedAt: string;
  results: T[];
}

function load<T>(file: string | undefined): WorkloadFile<T> | undefined {
  if (!file || file === '-' || !existsSync(file)) return undefined;
  // JSON has no NaN: a figure that could not be measured (nobody caught up in time) comes back as null.
  return JSON.parse(readFileSync(file, 'utf8'), (_key, value: unknown) =>
    value === null ? NaN : value,
  ) as WorkloadFile<T>;
}

function stormSeries(results: readonly StormResult[]): ChartSeries[] {
  const systems = [...new Set(results.filter((r) => r.replays).map((r) => r.system))];
  return systems.map((system) => {
    const ns = [...new Set(results.filter((r) => r.system === system).map((r) => r.n))];
    return {
      system,
      points: ns
        .map((n) => {
          const times = results
            .filter((r) => r.system === system && r.n === n)
            .map((r) => r.allDoneMs)
            .filter(Number.isFinite);
          return { n, medianMs: median(times), minMs: Math.min(...times), maxMs: Math.max(...times) };
        })
        .filter((point) => Number.isFinite(point.medianMs)),
    };
  });
}

function runLine(file: WorkloadFile<{ loadAverage: number }>, what: string): string {
  const loads = file.results.map((r) => r.loadAverage).filter(Number.isFinite);
  return (
    `${what}: run of ${file.startedAt.slice(0, 16).replace('T', ' ')} UTC, ${String(file.machine.nproc)} cores, ` +
    `Node ${String(file.machine.node)}; 1-minute load average when each case started ` +
    `${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}.`
  );
}

function main(): void {
  const [stormFile, beforeAfterFile, publishFile, perUserFile] = process.argv.slice(2);
  const storm = load<StormResult>(stormFile);
  const beforeAfter = load<StormResult>(beforeAfterFile);
  const publish = load<RequestPathResult>(publishFile);
  const perUser = load<RequestPathResult>(perUserFile);
  const section: string[] = [START];
  if (storm) {
    const chartPath = path.join('docs', 'benchmarks-storm.svg');
    writeFileSync(
      chartPath,
      latencyChart(
        stormSeries(storm.results),
        'Reconnect storm: time from the cut until every subscriber has caught up',
        `20 events/s throughout; median of runs, band: range; ${String(storm.machine.nproc)} cores, Node ${String(storm.machine.node)}`,
        'cut → all caught up (log scale)',
      ),
    );
    section.push(
      '### Reconnect storm',
      '',
      runLine(storm, 'Storm'),
      '',
      '![Time from the cut until every subscriber has caught up, per system](benchmarks-storm.svg)',
      '',
      stormTable(storm.results),
      '',
      ...stormRatios(storm.results, 'nchan').map((line) => `- ${line}`),
      '',
    );
  }
  if (beforeAfter) {
    section.push(
      '### Storm: main before the paged replay (`ssehub-before`, 7d346d5) against now',
      '',
      runLine(beforeAfter, 'Before/after'),
      '',
      stormTable(beforeAfter.results),
      '',
      ...stormRatios(beforeAfter.results, 'ssehub').map((line) => `- ${line}`),
      '',
    );
  }
  if (publish) {
    section.push(
      '### Publish throughput (64 keep-alive connections, no subscribers)',
      '',
      runLine(publish, 'Publish'),
      '',
      ...publishTable(publish.results),
      '',
    );
  }
  if (perUser) {
    section.push(
      '### Per-user notifications (one topic per subscriber, publishers to random users)',
      '',
      runLine(perUser, 'Per-user'),
      '',
      ...perUserTable(perUser.results),
      '',
    );
  }
  section.push(END);
  const docPath = path.join('docs', 'benchmarks.md');
  const doc = readFileSync(docPath, 'utf8');
  if (!doc.includes(START) || !doc.includes(END))
    throw new Error(`${docPath} lacks the ${START} … ${END} markers`);
  writeFileSync(
    docPath,
    doc.slice(0, doc.indexOf(START)) + section.join('\n') + doc.slice(doc.indexOf(END) + END.length),
  );
  console.log(`wrote the storm section of ${docPath}${storm ? ' and docs/benchmarks-storm.svg' : ''}`);
}

main();
