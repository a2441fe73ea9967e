/**
 * bench/usage-aggregation: does the cost of a request grow with its customer's traffic? (issue 8,
 * row 6)
 *
 * Local mode (dynalite in process, usage aggregates applied inline after each ledger write, as
 * local mode does) with the test model answering at once. ONE Developer customer sends N chat
 * completions (default 20,000) over HTTP, C at a time (default 8), all on the same UTC day and
 * model. Printed per block of 1,000 requests: p50 and p99 latency and requests/s; then the first
 * and last block side by side, and the DynamoDB calls per request (counted by an SDK middleware)
 * for the first and the last block.
 *
 *   npm run bench:usage              # N=20000 C=8
 *   N=5000 C=4 npx tsx bench/usage-aggregation.ts
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { TestModelBackend } from '../lambda/inference/backends/test-model-backend';
import { loadConfig } from '../lib/config/load';
import { startLocalMode } from '../local/local-mode';

const MODEL = 'qwen3-8b';
const N = Number(process.env.N ?? 20_000);
const C = Number(process.env.C ?? 8);
const BLOCK = 1_000;
const config = loadConfig({
  env: 'dev',
  overrides: {
    tiers: {
      developer: {
        models: {
          [MODEL]: { rpm: 1_000_000, rpd: 10_000_000, tpm: 100_000_000, tpd: 1_000_000_000 },
        },
        edge: { rateLimit: 100_000, burstLimit: 100_000 },
      },
    },
  },
});

let dynamoCalls = 0;
const countCalls = (client: DynamoDBClient) =>
  client.middlewareStack.add(
    (next) => async (args) => {
      dynamoCalls += 1;
      return next(args);
    },
    { step: 'initialize', name: 'benchCount' },
  );

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];

async function main(): Promise<void> {
  const local = await startLocalMode({
    config,
    port: 0,
    backend: new TestModelBackend({
      replyTokens: 8,
      timeToFirstTokenMs: 0,
      tokensPerSecond: 1_000_000,
    }),
    instrumentDynamo: countCalls,
  });
  const { apiKey } = await local.operator.createCustomer({
    name: 'Heavy',
    email: 'heavy@bench.test',
    tier: 'developer',
  });
  const body = JSON.stringify({
    model: MODEL,
    messages: [{ role: 'user', content: 'count my usage please' }],
    max_completion_tokens: 8,
  });
  const send = async () => {
    const response = await fetch(`${local.openAIBaseUrl}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body,
    });
    if (response.status !== 200)
      throw new Error(`status ${response.status}: ${await response.text()}`);
    await response.arrayBuffer();
  };
  await send(); // warm the authorizer cache and the code paths

  const latencies: number[] = new Array(N);
  const blockStart: number[] = [];
  const blockCalls: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < N) {
      const i = next++;
      if (i % BLOCK === 0) {
        blockStart[i / BLOCK] = performance.now();
        blockCalls[i / BLOCK] = dynamoCalls;
      }
      const started = performance.now();
      await send();
      latencies[i] = performance.now() - started;
    }
  };
  const startedAll = performance.now();
  await Promise.all(Array.from({ length: C }, worker));
  const totalSeconds = (performance.now() - startedAll) / 1000;
  const endCalls = dynamoCalls;

  const blocks = Math.ceil(N / BLOCK);
  const rows: { block: string; p50: number; p99: number; rps: number; calls: number }[] = [];
  for (let b = 0; b < blocks; b++) {
    const slice = latencies.slice(b * BLOCK, (b + 1) * BLOCK).sort((x, y) => x - y);
    const end = b + 1 < blocks ? (blockStart[b + 1] as number) : startedAll + totalSeconds * 1000;
    const callsEnd = b + 1 < blocks ? (blockCalls[b + 1] as number) : endCalls;
    rows.push({
      block: `${b * BLOCK + 1}-${Math.min(N, (b + 1) * BLOCK)}`,
      p50: percentile(slice, 0.5) as number,
      p99: percentile(slice, 0.99) as number,
      rps: slice.length / ((end - (blockStart[b] as number)) / 1000),
      calls: (callsEnd - (blockCalls[b] as number)) / slice.length,
    });
  }
  console.log(`${N} requests of one customer, ${C} at a time, ${totalSeconds.toFixed(1)} s in all`);
  console.log('requests       p50 ms   p99 ms   req/s   DynamoDB calls/request');
  for (const r of rows) {
    console.log(
      `${r.block.padEnd(13)}  ${r.p50.toFixed(1).padStart(6)}   ${r.p99.toFixed(1).padStart(6)}   ${r.rps.toFixed(0).padStart(5)}   ${r.calls.toFixed(2)}`,
    );
  }
  const first = rows[0];
  const last = rows[rows.length - 1];
  if (first && last) {
    console.log(
      `first vs last thousand: p50 ${first.p50.toFixed(1)} -> ${last.p50.toFixed(1)} ms, ` +
        `${first.rps.toFixed(0)} -> ${last.rps.toFixed(0)} req/s, ${first.calls.toFixed(2)} -> ${last.calls.toFixed(2)} DynamoDB calls/request`,
    );
  }
  const usage = (await (
    await fetch(`${local.openAIBaseUrl}/usage?group_by=model`, {
      headers: { authorization: `Bearer ${apiKey}` },
    })
  ).json()) as { total: { requests: number } };
  console.log(`GET /v1/usage counts ${usage.total.requests} requests (sent ${N + 1})`);
  await local.stop();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
