/**
 * bench/batch-scan-cpu: the CPU the batch worker's validation spends scanning an input file
 * (`scanBatchFile`: every line parsed and its prompt counted with the model's tokenizer) for files
 * it refuses: one line far past its model's context window, a file with more lines than the
 * tier takes, and prompts that fit followed by a broken line. CPU time of this process, best of 3
 * (one run when a run takes over 5 s), after the tokenizers are loaded.
 *
 *   npm run bench:batch-scan
 */
import { loadBatchTokenizers, parseBatchLine, scanBatchFile } from '../lambda/batches/batch-lines';
import { loadConfig } from '../lib/config/load';

const MODEL = 'qwen3-8b';
const TIER = 'developer';
const config = loadConfig({ env: 'dev' });
const limit = config.tiers[TIER].batch.maxLinesPerBatch;

const line = (customId: string, content: string) =>
  JSON.stringify({
    custom_id: customId,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: MODEL, max_completion_tokens: 100, messages: [{ role: 'user', content }] },
  });
const prose = (bytes: number) =>
  'The quick brown fox jumps over the lazy dog. '.repeat(Math.ceil(bytes / 45));

const FILES: Record<string, string> = {
  // One line of 16 MB of prose: far past the 32,768-token window.
  'one 16 MB line': line('huge', prose(16_000_000)),
  // Four times the lines the tier takes, each a short prompt.
  [`${4 * limit} short lines`]: Array.from({ length: 4 * limit }, (_, i) =>
    line(`line-${i}`, `say ${i}`),
  ).join('\n'),
  // Prompts each within the window, then a line that is not JSON: the file cannot run.
  '160 prompts of 120 KB, then a broken line': [
    ...Array.from({ length: 160 }, (_, i) => line(`line-${i}`, prose(120_000))),
    'not json',
  ].join('\n'),
};

function cpuMs(run: () => void): number {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 3; i++) {
    const before = process.cpuUsage();
    run();
    const used = process.cpuUsage(before);
    best = Math.min(best, (used.user + used.system) / 1000);
    if (best > 5_000) break;
  }
  return best;
}

async function main() {
  await loadBatchTokenizers(config, TIER);
  for (const [name, text] of Object.entries(FILES)) {
    let scan: ReturnType<typeof scanBatchFile> | undefined;
    const ms = cpuMs(() => {
      scan = scanBatchFile(text, config, TIER, new Map(), '/v1/chat/completions');
    });
    const problems = scan?.problems.map((p) => p.code).slice(0, 3) ?? [];
    // A line's own refusal goes to the error file, not to the file's problems.
    const newline = text.indexOf('\n');
    const first = parseBatchLine(newline === -1 ? text : text.slice(0, newline), 1, config, TIER);
    const line1 = first.kind === 'reject' ? `refused (${first.line.error.code})` : first.kind;
    console.log(
      `${name} (${(Buffer.byteLength(text) / 1e6).toFixed(1)} MB, ${MODEL}, ${TIER} tier: ` +
        `${limit} lines at most): ${ms.toFixed(0)} ms CPU; ${scan?.lines} lines, ` +
        `file problems ${JSON.stringify(problems)}, line 1 ${line1}`,
    );
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
