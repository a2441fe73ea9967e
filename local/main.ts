import * as path from 'node:path';
import { OpenAICompatibleBackend } from '../lambda/inference/backends/openai-compatible-backend';
import { TestModelBackend } from '../lambda/inference/backends/test-model-backend';
import { PromptTokenCounter } from '../lambda/inference/prompt-tokens';
import { ConfigError, loadConfig } from '../lib/config/load';
import { type LocalMode, startLocalMode } from './local-mode';

/**
 * `npm start`: Tierline on this machine. Settings come from the environment:
 * - TIERLINE_PORT (default 8787), TIERLINE_ENV (config environment, default dev),
 *   TIERLINE_DATA_DIR (default .local: DynamoDB data and demo keys survive a restart);
 * - TIERLINE_UPSTREAM_URL: an OpenAI-compatible server (`.../v1`) to run the models, with optional
 *   TIERLINE_UPSTREAM_MODEL (the upstream model name for every catalog model) and
 *   TIERLINE_UPSTREAM_API_KEY;
 * - without it, the built-in deterministic test model, paced by TIERLINE_TEST_MODEL_TTFT_MS
 *   (default 200) and TIERLINE_TEST_MODEL_TOKENS_PER_SECOND (default 20) so a stream is visible.
 */

function numberFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0)
    throw new Error(`${name} must be a non-negative number, got "${raw}"`);
  return value;
}

function banner(local: LocalMode, backendLine: string): string {
  const developer =
    local.demoCustomers.find((d) => d.tier === 'developer') ?? local.demoCustomers[0];
  const key = developer?.apiKey ?? 'tl_...';
  const keys = local.demoCustomers
    .map((d) => `  ${d.tier.padEnd(10)} ${d.customerId}  ${d.apiKey}`)
    .join('\n');
  return `
Tierline local mode is running at ${local.url}
  web console:      ${local.consoleUrl ?? '(not served)'}  (sign in with a key below)
  openai baseURL:   ${local.openAIBaseUrl}
  groq-sdk baseURL: ${local.url}
  models:           ${backendLine}

Demo customers (one per tier) and their API keys:
${keys}

Try it:
  curl -N ${local.openAIBaseUrl}/chat/completions \\
    -H "Authorization: Bearer ${key}" -H "Content-Type: application/json" \\
    -d '{"model":"qwen3-8b","stream":true,"messages":[{"role":"user","content":"Hello!"}]}'

  node -e 'const OpenAI=require("openai").default;const c=new OpenAI({apiKey:"${key}",baseURL:"${local.openAIBaseUrl}"});c.chat.completions.create({model:"qwen3-8b",messages:[{role:"user",content:"Hello!"}]}).then(r=>console.log(r.choices[0].message.content))'

  npx tierline --local customers list

Plans and limits: curl ${local.openAIBaseUrl}/plans
Press Ctrl-C to stop.
`;
}

async function main(): Promise<void> {
  const config = loadConfig({ env: process.env.TIERLINE_ENV ?? 'dev' });
  const upstreamUrl = process.env.TIERLINE_UPSTREAM_URL;
  const upstreamModel = process.env.TIERLINE_UPSTREAM_MODEL;
  const counter = new PromptTokenCounter(config);
  const backend = upstreamUrl
    ? new OpenAICompatibleBackend({
        baseUrl: upstreamUrl,
        apiKey: process.env.TIERLINE_UPSTREAM_API_KEY,
        upstreamModel: upstreamModel ? () => upstreamModel : undefined,
      })
    : new TestModelBackend({
        timeToFirstTokenMs: numberFromEnv('TIERLINE_TEST_MODEL_TTFT_MS', 200),
        tokensPerSecond: numberFromEnv('TIERLINE_TEST_MODEL_TOKENS_PER_SECOND', 20),
        promptTokens: (model, messages) => counter.count(model, messages),
        // Qwen3 thinks first, as the real one does: reasoning_format and reasoning_effort show.
        reasoningModels: new Set(
          Object.entries(config.models)
            .filter(([, model]) => model.reasoning)
            .map(([id]) => id),
        ),
      });
  const local = await startLocalMode({
    config,
    port: numberFromEnv('TIERLINE_PORT', 8787),
    dataDir: path.resolve(process.env.TIERLINE_DATA_DIR ?? '.local'),
    backend,
    // Never the upstream's address: customers see `owned_by`.
    modelOwner: upstreamUrl ? 'tierline-upstream' : undefined,
    log: (line) => console.error(line),
    maxRequestMs: numberFromEnv('TIERLINE_MAX_REQUEST_SECONDS', 900) * 1000,
    reconcileIntervalMs: numberFromEnv('TIERLINE_RECONCILE_INTERVAL_SECONDS', 60) * 1000,
  });
  console.log(
    banner(
      local,
      upstreamUrl
        ? `served by ${upstreamUrl}${upstreamModel ? ` (as ${upstreamModel})` : ''}`
        : 'the built-in deterministic test model (not a real LLM; set TIERLINE_UPSTREAM_URL for one)',
    ),
  );

  // The first request would otherwise wait for its model's tokenizer to load (about a second each).
  void counter.warmUp().catch((error) => console.error('tokenizers failed to load:', error));

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping Tierline local mode...`);
    local.stop().then(
      () => process.exit(0),
      (error) => {
        console.error(error);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((error) => {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
});
