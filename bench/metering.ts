/**
 * bench/metering: what metering costs in DynamoDB calls, and how exact the limiter is under
 * concurrency.
 *
 * 1. DynamoDB calls per chat completion on the request path, counted by an SDK middleware on local
 *    mode's DynamoDB client (dynalite), split into before and after the model call. The
 *    authorizer's key lookup is left out (API Gateway caches it; in local mode its cache is warm),
 *    and so is the aggregation of the ledger (in AWS it runs from the table stream, off the request
 *    path).
 * 2. Admitted versus limit: 10 x Q requests released at once over HTTP against an RPM limit of Q,
 *    and against a TPM limit that fits Q requests.
 *
 *   npx tsx bench/metering.ts
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { BackendChatRequest, ModelBackend } from '../lambda/inference/backends/model-backend';
import { TestModelBackend } from '../lambda/inference/backends/test-model-backend';
import { loadConfig } from '../lib/config/load';
import { startLocalMode } from '../local/local-mode';

const MODEL = 'qwen3-8b';
const Q = 20;
const TOKENS_PER_REQUEST = 50; // max_completion_tokens 40 + about 10 tokens of prompt
const config = loadConfig({
  env: 'dev',
  overrides: {
    tiers: {
      free: {
        models: { [MODEL]: { rpm: Q, rpd: 100_000, tpm: 1_000_000, tpd: 10_000_000 } },
        edge: { rateLimit: 10_000, burstLimit: 10_000 },
      },
      enterprise: {
        models: {
          [MODEL]: { rpm: 100_000, rpd: 1_000_000, tpm: Q * TOKENS_PER_REQUEST, tpd: 10_000_000 },
        },
      },
    },
  },
});

type Phase = 'idle' | 'before' | 'after';
let phase: Phase = 'idle';
const counts: Record<'before' | 'after', Record<string, number>> = { before: {}, after: {} };

/** Marks the moment the model is called, so each DynamoDB call falls before or after it. */
class MarkingBackend implements ModelBackend {
  constructor(private readonly inner: ModelBackend) {}
  unsupportedParameters(model: string) {
    return this.inner.unsupportedParameters(model);
  }
  complete(request: BackendChatRequest) {
    if (phase === 'before') phase = 'after';
    return this.inner.complete(request);
  }
  stream(request: BackendChatRequest) {
    if (phase === 'before') phase = 'after';
    return this.inner.stream(request);
  }
}

function countCalls(client: DynamoDBClient): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (phase !== 'idle') {
        const bucket = counts[phase];
        bucket[context.commandName ?? '?'] = (bucket[context.commandName ?? '?'] ?? 0) + 1;
      }
      return next(args);
    },
    { step: 'initialize', name: 'benchCountCalls' },
  );
}

async function chat(baseUrl: string, apiKey: string, stream: boolean): Promise<number> {
  const response = await fetch(`${baseUrl}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      model: MODEL,
      stream,
      max_completion_tokens: 40,
      messages: [{ role: 'user', content: 'Count my calls, please.' }],
    }),
  });
  await response.text();
  return response.status;
}

const summary = (bucket: Record<string, number>, requests: number) => {
  const total = Object.values(bucket).reduce((a, b) => a + b, 0);
  const parts = Object.entries(bucket).map(
    ([name, n]) => `${name.replace('Command', '')} ${(n / requests).toFixed(2)}`,
  );
  return `${(total / requests).toFixed(2)} (${parts.join(', ') || 'none'})`;
};

async function main(): Promise<void> {
  const local = await startLocalMode({
    config,
    port: 0,
    backend: new MarkingBackend(new TestModelBackend({ replyTokens: 30 })),
    aggregateInline: false,
    instrumentDynamo: countCalls,
  });
  try {
    const key = (tier: string) => local.demoCustomers.find((d) => d.tier === tier)?.apiKey ?? '';
    const limited = await local.operator.createCustomer({
      name: 'Limited',
      email: 'limited@bench.local',
      tier: 'developer',
    });
    await local.operator.setSpendLimit(limited.customer.customerId, 1_000);
    // Its own counters: the demo Free customer's RPM limit is measured below.
    const free = await local.operator.createCustomer({
      name: 'Free',
      email: 'free@bench.local',
      tier: 'free',
    });

    console.log('DynamoDB calls per admitted chat completion (request path; sequential requests):');
    console.log(
      'customer                 stream  requests  before the model call           after the model call',
    );
    // Free: 2 x (1 + 9) requests fit its RPM limit of Q = 20 (no spend hold).
    for (const [label, apiKey, requests] of [
      ['free', free.apiKey ?? '', 9],
      ['developer, no spend limit', key('developer'), 40],
      ['developer, spend limit', limited.apiKey ?? '', 40],
    ] as const) {
      for (const stream of [false, true]) {
        await chat(local.openAIBaseUrl, apiKey, stream); // warms the authorizer cache and the minute's counters
        counts.before = {};
        counts.after = {};
        for (let i = 0; i < requests; i += 1) {
          phase = 'before';
          const status = await chat(local.openAIBaseUrl, apiKey, stream);
          if (status !== 200) throw new Error(`unexpected HTTP ${status}`);
          // The ledger write and settlement finish after the response: let them land before the
          // next request.
          await new Promise((resolve) => setTimeout(resolve, 5));
          phase = 'idle';
        }
        console.log(
          `${label.padEnd(24)} ${String(stream).padEnd(7)} ${String(requests).padEnd(9)} ${summary(counts.before, requests).padEnd(31)} ${summary(counts.after, requests)}`,
        );
      }
    }

    console.log(`\nAdmitted vs limit: ${10 * Q} requests released at once, over HTTP.`);
    for (const [label, apiKey, limit] of [
      [`RPM limit ${Q} (free)`, key('free'), Q],
      [`TPM limit ${Q * TOKENS_PER_REQUEST} = ${Q} requests (enterprise)`, key('enterprise'), Q],
    ] as const) {
      let release: () => void = () => undefined;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const results = Array.from({ length: 10 * limit }, async () => {
        await gate;
        return chat(local.openAIBaseUrl, apiKey, false);
      });
      release();
      const statuses = await Promise.all(results);
      const admitted = statuses.filter((s) => s === 200).length;
      const refused = statuses.filter((s) => s === 429).length;
      console.log(
        `${label.padEnd(44)} admitted ${admitted} of ${statuses.length} (limit ${limit}), 429: ${refused}`,
      );
    }
  } finally {
    await local.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
