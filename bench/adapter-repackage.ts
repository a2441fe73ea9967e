/**
 * bench/adapter-repackage: what registering an uploaded adapter costs the API function before S3
 * (issue 11): reading and checking the archive (config + safetensors header only) and repackaging
 * it as the one adapter.tar.gz an adapter component serves, streamed to a sink that only counts
 * bytes. The adapter is a realistic one: Llama 3.1 8B, rank 16, all seven modules, 32 layers (about
 * 84 MB of bf16 tensors, random bytes so gzip cannot shrink them). The API function answers within
 * API Gateway's 29 seconds: this says how much of that the CPU work takes. CPU time is the figure
 * to trust on a busy machine.
 *
 *   npm run bench:adapters
 */
import { randomFillSync } from 'node:crypto';
import { bufferSource, readAdapterArchive } from '../lambda/fine-tuning/adapter-archive';
import { checkAdapter } from '../lambda/fine-tuning/adapter-checks';
import { repackageAdapter } from '../lambda/fine-tuning/adapter-repackage';
import { loadConfig } from '../lib/config/load';
import { adapterFiles, entriesOf, tarGzOf, zipOf } from '../test/support/adapters';

async function main() {
  const config = loadConfig({ env: 'dev' });
  const architecture = config.models['qwen3-8b']?.architecture;
  if (!architecture) throw new Error('no architecture');
  const files = adapterFiles({
    architecture,
    rank: 16,
    modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
    layers: architecture.layers,
    baseModel: 'qwen3-8b',
  });
  // Random tensor bytes after the header: real weights do not compress either.
  const headerEnd = 8 + Number(files.weights.readBigUInt64LE(0));
  randomFillSync(files.weights, headerEnd);
  const archives = {
    zip: await zipOf(entriesOf(files)),
    'tar.gz': await tarGzOf(entriesOf(files)),
  };
  console.log(`adapter: ${(files.weights.length / 1e6).toFixed(1)} MB of tensors`);
  for (const [format, bytes] of Object.entries(archives)) {
    const runs: { check: number; repackage: number; cpu: number; out: number }[] = [];
    for (let run = 0; run < 3; run += 1) {
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const archive = await readAdapterArchive(bufferSource(bytes));
      checkAdapter(archive, 'qwen3-8b', config);
      const t1 = performance.now();
      let out = 0;
      for await (const chunk of repackageAdapter(bufferSource(bytes), archive.format))
        out += (chunk as Buffer).length;
      const t2 = performance.now();
      const cpu = process.cpuUsage(cpu0);
      runs.push({ check: t1 - t0, repackage: t2 - t1, cpu: (cpu.user + cpu.system) / 1000, out });
    }
    const best = (key: 'check' | 'repackage' | 'cpu') =>
      Math.min(...runs.map((r) => r[key])).toFixed(0);
    console.log(
      `${format.padEnd(6)} ${(bytes.length / 1e6).toFixed(1)} MB: read + check ${best('check')} ms, ` +
        `repackage ${best('repackage')} ms (-> ${((runs[0]?.out ?? 0) / 1e6).toFixed(1)} MB), CPU ${best('cpu')} ms (best of 3)`,
    );
  }
}

void main();
