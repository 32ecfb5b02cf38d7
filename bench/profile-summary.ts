/**
 * `node --import tsx bench/profile-summary.ts FILE.cpuprofile [top]`: self time per function and
 * per source file of a V8 CPU profile (as written by `node --cpu-prof`), heaviest first.
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

export function selfTimes(profile: CpuProfile, key: (node: ProfileNode) => string): SelfTime[] {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const totals = new Map<string, number>();
  let all = 0;
  profile.samples.forEach((id, index) => {
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
  const file = process.argv[2];
  if (!file) throw new Error('usage: profile-summary.ts FILE.cpuprofile [top]');
  const top = Number(process.argv[3] ?? 25);
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
    ),
  );
  print(
    'self time by file',
    selfTimes(profile, (n) => shortUrl(n.callFrame.url)),
  );
}

main();
