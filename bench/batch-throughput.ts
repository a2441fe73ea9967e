import { performance } from 'node:perf_hooks';
import OpenAI, { toFile } from 'openai';
import { TestModelBackend } from '../lambda/inference/backends/test-model-backend';
import { loadConfig } from '../lib/config/load';
import { startLocalMode } from '../local/local-mode';

/**
 * Batch throughput in local mode, and what a running batch does to online traffic: lines per second
 * through the in-process worker for a batch of LINES lines, and the p50 / p99 time to first token
 * of online streamed requests (one at a time) while it runs, against the same requests with no
 * batch running. The paced test model stands in for a GPU: 50 ms to first token, 200 tokens/s, 10
 * tokens per reply. Run: npm run bench:batch
 */
const LINES = Number(process.env.BENCH_BATCH_LINES ?? 2_000);
const ONLINE_REQUESTS = 60;
const MODEL = 'qwen3-8b';

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
};

async function timeToFirstToken(client: OpenAI): Promise<number> {
  const started = performance.now();
  const stream = await client.chat.completions.create({
    model: MODEL,
    messages: [{ role: 'user', content: 'online request' }],
    max_completion_tokens: 10,
    stream: true,
  });
  let first = Number.NaN;
  for await (const chunk of stream) {
    if (Number.isNaN(first) && chunk.choices[0]?.delta.content) first = performance.now() - started;
  }
  return first;
}

async function onlineSeries(
  client: OpenAI,
  keepGoing: () => boolean = () => true,
): Promise<number[]> {
  const ttfts: number[] = [];
  for (let i = 0; i < ONLINE_REQUESTS && keepGoing(); i += 1)
    ttfts.push(await timeToFirstToken(client));
  return ttfts;
}

async function main(): Promise<void> {
  const config = loadConfig({ env: 'dev' });
  const local = await startLocalMode({
    config,
    port: 0,
    backend: new TestModelBackend({
      timeToFirstTokenMs: 50,
      tokensPerSecond: 200,
      replyTokens: 10,
    }),
  });
  try {
    const keys = Object.fromEntries(local.demoCustomers.map((d) => [d.tier, d.apiKey]));
    const batchClient = new OpenAI({
      apiKey: keys.developer,
      baseURL: local.openAIBaseUrl,
      maxRetries: 0,
    });
    const online = new OpenAI({
      apiKey: keys.enterprise,
      baseURL: local.openAIBaseUrl,
      maxRetries: 0,
    });

    await onlineSeries(online); // warm up
    const baseline = await onlineSeries(online);

    const lines = Array.from({ length: LINES }, (_, i) =>
      JSON.stringify({
        custom_id: `line-${i}`,
        method: 'POST',
        url: '/v1/chat/completions',
        body: {
          model: MODEL,
          messages: [{ role: 'user', content: `batch line ${i}` }],
          max_completion_tokens: 10,
        },
      }),
    );
    const file = await batchClient.files.create({
      file: await toFile(Buffer.from(`${lines.join('\n')}\n`), 'bench.jsonl'),
      purpose: 'batch',
    });
    const started = performance.now();
    const batch = await batchClient.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    let finished = false;
    const during: number[] = [];
    const poll = (async () => {
      for (;;) {
        const b = await batchClient.batches.retrieve(batch.id);
        if (['completed', 'failed', 'expired', 'cancelled'].includes(b.status)) {
          finished = true;
          return b;
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    })();
    // Online requests while the batch runs (after it has started running lines).
    await new Promise((resolve) => setTimeout(resolve, 500));
    while (!finished) during.push(...(await onlineSeries(online, () => !finished)));
    const done = await poll;
    const seconds = (performance.now() - started) / 1000;

    console.log(
      `batch of ${LINES} lines: ${done.status}, ${done.request_counts?.completed} completed, ${done.request_counts?.failed} failed`,
    );
    console.log(
      `  wall time ${seconds.toFixed(1)} s, ${(LINES / seconds).toFixed(1)} lines/s through the worker`,
    );
    console.log(
      `online TTFT without batch: p50 ${percentile(baseline, 50).toFixed(1)} ms, p99 ${percentile(baseline, 99).toFixed(1)} ms (${baseline.length} requests)`,
    );
    console.log(
      `online TTFT during batch:  p50 ${percentile(during, 50).toFixed(1)} ms, p99 ${percentile(during, 99).toFixed(1)} ms (${during.length} requests)`,
    );
  } finally {
    await local.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
