/**
 * `node --import tsx bench/profile-summary.ts FILE.cpuprofile [top] [--window=FROM_US,TO_US]`: self
 * time per function and per source file of a V8 CPU profile (as written by `node --cpu-prof`),
 * heaviest first. `--window` keeps only the samples taken in that span of the monotonic clock (µs;
 * the storm bench records its storm's span as `stormWindowUs` in the results).
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface SelfTime {
  name: string;
  ms: number;
  share: number;
}

function shortUrl(url: string): string {
  if (url === '') return '(native)';
  const src = url.indexOf('/dist/');
  if (src !== -1) return url.slice(src + 1);
  return url.replace(/^file:\/\/.*\/node_modules\//, '').replace(/^node:/, 'node:');
}

export function selfTimes(
  profile: CpuProfile,
  key: (node: ProfileNode) => string,
  windowUs: readonly [number, number] = [-Infinity, Infinity],
): SelfTime[] {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const totals = new Map<string, number>();
  let all = 0;
  let sampledAtUs = profile.startTime;
  profile.samples.forEach((id, index) => {
    sampledAtUs += profile.timeDeltas[index] ?? 0;
    if (sampledAtUs < windowUs[0] || sampledAtUs > windowUs[1]) return;
    const delta = (profile.timeDeltas[index + 1] ?? 0) / 1000;
    const node = byId.get(id);
    if (!node) return;
    const name = key(node);
    totals.set(name, (totals.get(name) ?? 0) + delta);
    all += delta;
  });
  return [...totals.entries()]
    .map(([name, ms]) => ({ name, ms, share: ms / all }))
    .sort((a, b) => b.ms - a.ms);
}

function main(): void {
  process.stdout.on('error', () => process.exit(0)); // e.g. piped into `head`
  const window = process.argv.find((arg) => arg.startsWith('--window='));
  const positional = process.argv.slice(2).filter((arg) => !arg.startsWith('--'));
  const file = positional[0];
  if (!file) throw new Error('usage: profile-summary.ts FILE.cpuprofile [top] [--window=FROM_US,TO_US]');
  const top = Number(positional[1] ?? 25);
  const windowUs = window
    ? (window.slice('--window='.length).split(',').map(Number) as [number, number])
    : undefined;
  if (windowUs) {
    console.log(`samples from ${((windowUs[1] - windowUs[0]) / 1000).toFixed(0)} ms of the profile only`);
  }
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const print = (title: string, rows: SelfTime[]): void => {
    console.log(`\n${title}`);
    for (const row of rows.slice(0, top)) {
      console.log(
        `${(row.share * 100).toFixed(1).padStart(5)} %  ${row.ms.toFixed(0).padStart(7)} ms  ${row.name}`,
      );
    }
  };
  print(
    'self time by function',
    selfTimes(
      profile,
      (n) =>
        `${n.callFrame.functionName || '(anonymous)'}  ${shortUrl(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`,
      windowUs,
    ),
  );
  print(
    'self time by file',
    selfTimes(profile, (n) => shortUrl(n.callFrame.url), windowUs),
  );
}

main();
