/**
 * bench/profile-summary: where a V8 CPU profile (`node --cpu-prof`, e.g. from `BENCH_CPU_PROF=dir
 * npm run bench:gateway`) spends its time: self time by package (node_modules/<name>, node
 * internals, Tierline's own code), the functions with the most self time, and Tierline's functions
 * by total time. The profiler's own work (writing the profile) is left out.
 *
 *   npx tsx bench/profile-summary.ts .local/prof/*.cpuprofile [--top 25]
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
}

/** Which package a script URL belongs to: `node_modules/@scope/name`, `node:internal`, or ours. */
export function packageOf(url: string): string {
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (match?.[1]) return match[1];
  if (url === '') return '(native / idle / GC)';
  if (url.startsWith('node:')) return 'node internals';
  return 'tierline';
}

/** A readable name for a frame: function, then package-relative file and line. */
function frameName({ functionName, url, lineNumber }: ProfileNode['callFrame']): string {
  const where = url
    ? `${url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(lambda|local|lib)\//, '$1/')}:${lineNumber + 1}`
    : '';
  return `${functionName || '(anonymous)'} ${where}`;
}

export function summarize(profile: CpuProfile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes)
    for (const child of node.children ?? []) parentOf.set(child, node.id);
  const stackOf = (id: number) => {
    const stack: ProfileNode[] = [];
    for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) {
      const node = byId.get(at);
      if (node) stack.push(node);
    }
    return stack;
  };
  // The profiler's own work (writing the profile out: `node:inspector`) is not the program's.
  const profilerOwn = (stack: ProfileNode[]) =>
    stack.some((n) => n.callFrame.url === 'node:inspector');
  const selfMicros = new Map<number, number>();
  /** Time with the function anywhere on the stack (counted once per sample). */
  const inclusive = new Map<string, number>();
  for (const [i, id] of profile.samples.entries()) {
    const micros = profile.timeDeltas[i] ?? 0;
    const stack = stackOf(id);
    const leaf = stack[0]?.callFrame.functionName;
    if (leaf === '(idle)' || leaf === '(program)' || profilerOwn(stack)) continue;
    selfMicros.set(id, (selfMicros.get(id) ?? 0) + micros);
    for (const name of new Set(stack.map((n) => frameName(n.callFrame)))) {
      inclusive.set(name, (inclusive.get(name) ?? 0) + micros);
    }
  }
  const byPackage = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let total = 0;
  for (const [id, micros] of selfMicros) {
    const node = byId.get(id);
    if (!node) continue;
    total += micros;
    const pkg = packageOf(node.callFrame.url);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + micros);
    const key = frameName(node.callFrame);
    byFunction.set(key, (byFunction.get(key) ?? 0) + micros);
  }
  const sorted = (m: Map<string, number>) => [...m.entries()].sort((a, b) => b[1] - a[1]);
  return {
    totalMs: total / 1000,
    packages: sorted(byPackage),
    functions: sorted(byFunction),
    // Tierline's own functions by total time: where the request path spends, callee costs included.
    ownInclusive: sorted(inclusive).filter(([name]) => /\s(lambda|local)\//.test(name)),
  };
}

function main(): void {
  const args = process.argv.slice(2);
  const topIndex = args.indexOf('--top');
  const top = topIndex >= 0 ? Number(args[topIndex + 1]) : 25;
  const files = args.filter((a, i) => a.endsWith('.cpuprofile') && i !== topIndex + 1);
  if (files.length === 0)
    throw new Error('usage: npx tsx bench/profile-summary.ts FILE.cpuprofile [--top N]');
  for (const file of files) {
    const { totalMs, packages, functions, ownInclusive } = summarize(
      JSON.parse(readFileSync(file, 'utf8')) as CpuProfile,
    );
    const pct = (micros: number) => `${((micros / 1000 / totalMs) * 100).toFixed(1).padStart(5)}%`;
    console.log(`${file}: ${totalMs.toFixed(0)} ms of CPU (idle left out)\n\nself time by package`);
    for (const [name, micros] of packages.slice(0, 15)) console.log(`  ${pct(micros)}  ${name}`);
    console.log(`\ntop ${top} functions by self time`);
    for (const [name, micros] of functions.slice(0, top)) console.log(`  ${pct(micros)}  ${name}`);
    console.log(`\ntop ${top} of Tierline's functions by total time (callees included)`);
    for (const [name, micros] of ownInclusive.slice(0, top))
      console.log(`  ${pct(micros)}  ${name}`);
  }
}

if (require.main === module) main();
