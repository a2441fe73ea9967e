/**
 * bench/profile-summary: where a V8 CPU profile (`node --cpu-prof`, e.g. from `BENCH_CPU_PROF=dir npm run
 * bench:gateway`) spends its time: self time by package (node_modules/<name>, node internals, Tierline's own
 * code) and the functions with the most self time.
 *
 *   npx tsx bench/profile-summary.ts .local/prof/*.cpuprofile [--top 25]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Which package a script URL belongs to: `node_modules/@scope/name`, `node:internal`, or ours. */
export function packageOf(url: string): string {
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (match?.[1]) return match[1];
  if (url === '') return '(native / idle / GC)';
  if (url.startsWith('node:')) return 'node internals';
  return 'tierline';
}

export function summarize(profile: CpuProfile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfMicros = new Map<number, number>();
  for (const [i, id] of profile.samples.entries()) {
    selfMicros.set(id, (selfMicros.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const byPackage = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let total = 0;
  for (const [id, micros] of selfMicros) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)' || functionName === '(program)') continue;
    total += micros;
    const pkg = packageOf(url);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + micros);
    const where = url
      ? `${url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(lambda|local|lib)\//, '$1/')}:${lineNumber + 1}`
      : '';
    const key = `${functionName || '(anonymous)'} ${where}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + micros);
  }
  const sorted = (m: Map<string, number>) => [...m.entries()].sort((a, b) => b[1] - a[1]);
  return { totalMs: total / 1000, packages: sorted(byPackage), functions: sorted(byFunction) };
}

function main(): void {
  const args = process.argv.slice(2);
  const topIndex = args.indexOf('--top');
  const top = topIndex >= 0 ? Number(args[topIndex + 1]) : 25;
  const files = args.filter((a, i) => a.endsWith('.cpuprofile') && i !== topIndex + 1);
  if (files.length === 0) throw new Error('usage: npx tsx bench/profile-summary.ts FILE.cpuprofile [--top N]');
  for (const file of files) {
    const { totalMs, packages, functions } = summarize(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile);
    const pct = (micros: number) => `${((micros / 1000 / totalMs) * 100).toFixed(1).padStart(5)}%`;
    console.log(`${file}: ${totalMs.toFixed(0)} ms of CPU (idle left out)\n\nself time by package`);
    for (const [name, micros] of packages.slice(0, 15)) console.log(`  ${pct(micros)}  ${name}`);
    console.log(`\ntop ${top} functions by self time`);
    for (const [name, micros] of functions.slice(0, top)) console.log(`  ${pct(micros)}  ${name}`);
  }
}

if (require.main === module) main();
