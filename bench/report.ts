/**
 * `node --import tsx bench/report.ts [results.json]`: turns a bench run's results into the table
 * and chart of docs/benchmarks.md (the part between the `bench:results` markers is replaced).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { latencyChart } from './chart.js';
import type { ChartSeries } from './chart.js';
import { median } from './ledger.js';
import { marginalRss, markdownTable, ratioLines, summarize } from './summary.js';
import type { BenchResults } from './summary.js';

const START = '<!-- bench:results:start -->';
const END = '<!-- bench:results:end -->';

export function chartSeries(results: BenchResults): ChartSeries[] {
  const rows = summarize(results.cases);
  const systems = [...new Set(rows.map((row) => row.system))];
  return systems.map((system) => ({
    system,
    points: rows
      .filter((row) => row.system === system && row.reachMedianMs.length > 0)
      .map((row) => ({
        n: row.n,
        medianMs: median(row.reachMedianMs),
        minMs: Math.min(...row.reachMedianMs),
        maxMs: Math.max(...row.reachMedianMs),
      })),
  }));
}

function loadLine(results: BenchResults): string {
  const loads = results.cases.map((result) => result.loadAverage).filter(Number.isFinite);
  if (loads.length === 0) return '- machine load average during the run: not recorded';
  const busy = Math.max(...loads) > Number(results.machine.nproc ?? 1);
  // The bench's own server and load workers count towards it: only above the core count is it other work.
  const note = busy ? 'other work shared the machine' : 'the bench itself counts towards it';
  return `- machine load average (1 min) when each case started: ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)} on ${results.machine.nproc} cores (${note})`;
}

function resultsSection(results: BenchResults, chartFile: string): string {
  const rows = summarize(results.cases);
  const { machine, options } = results;
  const machineLine = `${machine.nproc} cores (${machine.cpu}), Node ${machine.node}, Linux ${machine.kernel}`;
  return [
    START,
    `Run of ${results.startedAt.slice(0, 16).replace('T', ' ')} UTC on ${machineLine}; ` +
      `${String(options.events)} events of ${String(options.payloadBytes)} bytes at one per ${String(options.intervalMs)} ms, ` +
      `${String(options.reps)} runs of each system in alternation, ${String(options.workers)} load worker processes.`,
    '',
    `![Time for one event to reach all N subscribers, per system](${chartFile})`,
    '',
    markdownTable(rows),
    '',
    ...ratioLines(rows).map((line) => `- ${line}`),
    ...marginalRss(results.cases).map(
      (m) =>
        `- ${m.system}: each idle subscriber beyond ${m.fromN.toLocaleString('en-US')} adds ${m.kbPerConnection.toFixed(1)} KB of RSS (slope ${m.fromN.toLocaleString('en-US')} → ${m.toN.toLocaleString('en-US')})`,
    ),
    loadLine(results),
    END,
  ].join('\n');
}

function main(): void {
  const resultsPath = process.argv[2] ?? path.join('bench', 'results', 'latest.json');
  const results = JSON.parse(readFileSync(resultsPath, 'utf8')) as BenchResults;
  const chartPath = path.join('docs', 'benchmarks-latency.svg');
  const subtitle = `median of ${String(results.options.events)} events, band: range over runs; ${results.machine.nproc} cores, Node ${results.machine.node}`;
  writeFileSync(
    chartPath,
    latencyChart(chartSeries(results), 'Time for one event to reach all N subscribers', subtitle),
  );
  const docPath = path.join('docs', 'benchmarks.md');
  const section = resultsSection(results, 'benchmarks-latency.svg');
  const doc = existsSync(docPath) ? readFileSync(docPath, 'utf8') : `# Benchmarks\n\n${START}\n${END}\n`;
  if (!doc.includes(START) || !doc.includes(END))
    throw new Error(`${docPath} lacks the ${START} … ${END} markers`);
  writeFileSync(
    docPath,
    doc.slice(0, doc.indexOf(START)) + section + doc.slice(doc.indexOf(END) + END.length),
  );
  console.log(`wrote ${chartPath} and the results section of ${docPath}`);
}

main();
