/**
 * bench/input-tokens-cpu: the CPU one `POST /v1/responses/input_tokens` costs the gateway for a
 * 4 MB input, the counting being nearly all of it: the whole prompt counted with the model's
 * tokenizer (`count`, what the route did) against counting that stops once the count is past the
 * model's context window (`countUpTo`, what it does). CPU time of this process, best of 3, after
 * the tokenizer is loaded.
 *
 *   npm run bench:input-tokens
 */
import { PromptTokenCounter } from '../lambda/inference/prompt-tokens';
import { loadConfig } from '../lib/config/load';

const MODEL = 'qwen3-8b';
const config = loadConfig({ env: 'dev' });
const counter = new PromptTokenCounter(config);
const contextWindow = config.models[MODEL]?.contextWindow ?? 0;
const INPUTS = {
  prose: 'The quick brown fox jumps over the lazy dog. '.repeat(Math.ceil(4_000_000 / 45)),
  // No space to cut at: every chunk is cut inside a pre-token.
  'one word': 'abcdefghij'.repeat(400_000),
};

async function cpuMs(run: () => Promise<number>): Promise<{ ms: number; tokens: number }> {
  let best = Number.POSITIVE_INFINITY;
  let tokens = 0;
  for (let i = 0; i < 3; i++) {
    const before = process.cpuUsage();
    tokens = await run();
    const used = process.cpuUsage(before);
    best = Math.min(best, (used.user + used.system) / 1000);
  }
  return { ms: best, tokens };
}

async function main() {
  await counter.warmUp([MODEL]);
  for (const [kind, input] of Object.entries(INPUTS)) {
    const messages = [{ role: 'user' as const, content: input }];
    const what = `${MODEL}, ${kind}, ${Buffer.byteLength(input)} bytes`;
    const whole = await cpuMs(() => counter.count(MODEL, messages));
    console.log(`${what}: count: ${whole.ms.toFixed(0)} ms CPU (${whole.tokens} tokens)`);
    const bounded = await cpuMs(() => counter.countUpTo(MODEL, messages, {}, contextWindow));
    console.log(
      `${what}: countUpTo(${contextWindow}): ${bounded.ms.toFixed(0)} ms CPU ` +
        `(stopped at ${bounded.tokens} tokens)`,
    );
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
