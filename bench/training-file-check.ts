/**
 * How fast the jobs API checks a training file (parse + the model's real tokenizer per
 * conversation), which bounds the file a create can check within API Gateway's 29-second
 * integration timeout. Run: npx tsx bench/training-file-check.ts [MiB]
 */
import { checkTrainingFile } from '../lambda/fine-tuning/training-file';
import { PromptTokenCounter } from '../lambda/inference/prompt-tokens';
import { loadConfig } from '../lib/config/load';

const config = loadConfig({ env: 'dev' });
const mib = Number(process.argv[2] ?? 8);
const line = (i: number) =>
  JSON.stringify({
    messages: [
      {
        role: 'system',
        content: 'You are a support agent for an online shop. Answer briefly and politely.',
      },
      {
        role: 'user',
        content: `Order ${i} has not arrived yet; it was due last Tuesday. What can I do?`,
      },
      {
        role: 'assistant',
        content: `I am sorry that order ${i} is late. I have asked the carrier for its status and will write to you within a day.`,
      },
    ],
  });
const lines: string[] = [];
let bytes = 0;
for (let i = 0; bytes < mib * 1024 * 1024; i++) {
  const l = `${line(i)}\n`;
  lines.push(l);
  bytes += Buffer.byteLength(l);
}
const content = Buffer.from(lines.join(''));

async function* chunks(): AsyncIterable<Uint8Array> {
  for (let i = 0; i < content.length; i += 64 * 1024) yield content.subarray(i, i + 64 * 1024);
}

async function main() {
  const counter = new PromptTokenCounter(config);
  const loadStart = performance.now();
  await counter.warmUp();
  const loadMs = performance.now() - loadStart;
  const start = performance.now();
  const summary = await checkTrainingFile({
    fileId: 'file-bench',
    param: 'training_file',
    bytes: content.length,
    content: chunks(),
    model: 'qwen3-8b',
    config: config.fineTuning,
    countTokens: (model, messages) => counter.count(model, messages),
  });
  const seconds = (performance.now() - start) / 1000;
  const mibPerSecond = content.length / 1024 / 1024 / seconds;
  console.log(
    `training file check: ${(content.length / 1024 / 1024).toFixed(1)} MiB, ${summary.examples} examples, ` +
      `${summary.tokens} tokens in ${seconds.toFixed(2)} s = ${mibPerSecond.toFixed(2)} MiB/s, ` +
      `${Math.round(summary.tokens / seconds)} tokens/s (tokenizers loaded in ${(loadMs / 1000).toFixed(1)} s); ` +
      `at this rate 25 s check ${(mibPerSecond * 25).toFixed(0)} MiB`,
  );
}

void main();
