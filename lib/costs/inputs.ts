import { z } from 'zod';

/**
 * What the cost model (`npx tierline costs`) needs beyond the tier config: list prices, each with
 * the date it was read and where, and what a model copy and a request consume. Kept apart from
 * `lib/config/schema.ts` because none of it is enforced at run time: it is not bundled into the
 * handlers.
 */

const usd = z.number().nonnegative();
const positive = z.number().positive();
const fraction = z.number().gt(0).max(1);

/** A figure with its provenance, so a reader knows what to re-check before trusting a margin. */
const sourced = <T extends z.ZodType>(value: T) =>
  z.object({ value, source: z.string().min(1), readOn: z.iso.date() }).strict();

export const modelThroughputSchema = z
  .object({
    /** Output tokens per second ONE stream gets while the copy serves its target concurrency. */
    decodeTokensPerSecondPerStream: positive,
    /** Prompt tokens per second one copy prefills (all streams together). */
    prefillTokensPerSecondPerCopy: positive,
    /** Time to first token at the target concurrency, in ms (the chat function waits for it). */
    timeToFirstTokenMs: z.number().nonnegative(),
    /** `measured` on a deployment (say how in `source`) or `estimate` (replace with a measurement). */
    kind: z.enum(['measured', 'estimate']),
    source: z.string().min(1),
  })
  .strict();
export type ModelThroughput = z.infer<typeof modelThroughputSchema>;

export const costInputsSchema = z
  .object({
    region: z.string().min(1),
    prices: z
      .object({
        /** SageMaker real-time inference, USD per instance-hour, by instance type. */
        sagemakerInstanceHour: z.record(z.string(), sourced(usd)),
        /** Lambda on ARM64: USD per GB-second of duration. */
        lambdaGbSecond: sourced(usd),
        lambdaPerMillionRequests: sourced(usd),
        /** API Gateway REST API, first 333 million requests a month. */
        apiGatewayRestPerMillionRequests: sourced(usd),
        /** DynamoDB on-demand, per million write request units (one unit writes up to 1 KB). */
        dynamodbPerMillionWriteUnits: sourced(usd),
        dynamodbPerMillionReadUnits: sourced(usd),
        cloudWatchLogsPerGbIngested: sourced(usd),
        /** X-Ray, per million traces recorded. */
        xrayPerMillionTraces: sourced(usd),
        kmsKeyMonth: sourced(usd),
        cloudWatchAlarmMonth: sourced(usd),
        /** An interface VPC endpoint, per AZ it is in (the chat VPC on Managed Instances has five). */
        vpcInterfaceEndpointHourPerAz: sourced(usd),
        /** AWS WAF (environment.requestSizeGuard): a web ACL, each of its rules, each request it inspects. */
        wafWebAclMonth: sourced(usd),
        wafRuleMonth: sourced(usd),
        wafPerMillionRequests: sourced(usd),
      })
      .strict(),
    /** Per model id of the catalog. A model without an entry is left out of the GPU figures, and says so. */
    models: z.record(z.string(), modelThroughputSchema),
    /** Share of a copy's time it is busy at its target concurrency (the rest is headroom and idle). */
    gpuUtilization: fraction,
    request: z
      .object({
        /** Chat function memory (lib/constructs/api/tierline-api.ts) and authorizer memory, in MB. */
        chatFunctionMemoryMb: positive,
        authorizerMemoryMb: positive,
        /** Chat function time outside the model call (auth context, limiter, ledger), in ms. */
        chatOverheadMs: z.number().nonnegative(),
        authorizerDurationMs: positive,
        /** Share of requests answered from API Gateway's authorizer cache (TTL from the environment). */
        authorizerCacheHitRatio: z.number().min(0).max(1),
        /** DynamoDB write units per request: limiter, ledger, settlement, spend, usage aggregate. */
        dynamodbWriteUnits: z.number().nonnegative(),
        dynamodbReadUnits: z.number().nonnegative(),
        /** Access log + function log bytes per request. */
        logBytes: z.number().nonnegative(),
        /** Share of requests X-Ray records (default sampling: 1 per second, then 5%). */
        xraySampledRatio: z.number().min(0).max(1),
        source: z.string().min(1),
      })
      .strict(),
    /**
     * The chat function on Lambda Managed Instances instead of per-invocation Lambda: billed per
     * EC2 instance (plus a management fee and the request charge), many streams per execution
     * environment, at least `minInstances` kept for AZ resiliency, scaled on CPU.
     */
    managedInstances: z
      .object({
        instanceType: z.string().min(1),
        vCpusPerInstance: z.int().positive(),
        ec2InstanceHour: sourced(usd),
        managementFeePercent: sourced(z.number().nonnegative()),
        minInstances: z.int().positive(),
        /** CPU share the capacity provider scales at (its target tracking on CPU utilization). */
        targetCpuUtilization: fraction,
        /** Streams one vCPU's environment takes at once (Node.js default: 64 per vCPU, AWS docs). */
        maxConcurrentStreamsPerVCpu: z.int().positive(),
        /** CPU time the API app spends per chat completion (bench:gateway, gateway CPU per request). */
        cpuMsPerRequest: positive,
        source: z.string().min(1),
      })
      .strict(),
    /** The request a per-tier margin is computed for. */
    typicalRequest: z
      .object({ inputTokens: z.int().nonnegative(), outputTokens: z.int().positive() })
      .strict(),
    /** Hours in a billing month (AWS bills 730 hours a month on average). */
    hoursPerMonth: positive,
    daysPerMonth: positive,
  })
  .strict();
export type CostInputs = z.infer<typeof costInputsSchema>;
export type CostInputsInput = z.input<typeof costInputsSchema>;

const AWS_PRICING = 'AWS pricing page, us-east-1';
const READ_ON = '2026-12-01';
/**
 * Public vLLM benchmark of this GPU class at high concurrency: DatabaseMart, "A40 vLLM Benchmark:
 * 7B to 14B LLMs Under 50 & 100 Concurrent Requests" (vLLM, bf16, 100 input + 600 output tokens, 50
 * concurrent requests on one 48 GB A40): Qwen2.5-7B-Instruct 1,094.5 output tok/s (21.9 per
 * stream), Qwen2.5-14B-Instruct 529.9 (10.6 per stream), median TTFT 220 ms (7B). Decode is
 * memory-bound: the L40S (864 GB/s) reads 1.24x faster than the A40 (696 GB/s), and the same
 * architectures at 50 streams are a floor for the 24 and 12 streams the defaults run per copy
 * (fewer streams, more tokens each). No GPU was available here to measure: replace with your own.
 */
const A40_BENCHMARK =
  'DatabaseMart "A40 vLLM Benchmark: 7B to 14B LLMs Under 50 & 100 Concurrent Requests" (50 concurrent, bf16)';
const L40S_OVER_A40_BANDWIDTH = 864 / 696;
/** Prefill is compute-bound: 40% of an L40S's 181 dense bf16 TFLOPS over 2 FLOPs per parameter per token. */
const l40sPrefill = (gpus: number, parameters: number) =>
  Math.round((gpus * 181e12 * 0.4) / (2 * parameters));

/** Defaults for us-east-1. Replace the `estimate` throughputs with measurements of your own endpoints. */
export const defaultCostInputs: CostInputsInput = {
  region: 'us-east-1',
  prices: {
    sagemakerInstanceHour: {
      'ml.g5.xlarge': {
        value: 1.408,
        source: `${AWS_PRICING}, SageMaker real-time inference (1x A10G): the Whisper endpoints; verify: not confirmed from the page itself`,
        readOn: READ_ON,
      },
      'ml.g5.2xlarge': {
        value: 1.515,
        source: `${AWS_PRICING}, SageMaker real-time inference (1x A10G)`,
        readOn: READ_ON,
      },
      'ml.g6e.xlarge': {
        value: 2.327,
        source:
          `${AWS_PRICING}, SageMaker real-time inference (1x L40S); verify: derived from ml.g6e.12xlarge by the EC2 ` +
          'on-demand ratio of g6e.xlarge to g6e.12xlarge ($1.861 / $10.493), not read from the page itself',
        readOn: READ_ON,
      },
      'ml.g6e.12xlarge': {
        value: 13.117,
        source: `${AWS_PRICING}, SageMaker real-time inference (4x L40S); verify: not confirmed from the page itself`,
        readOn: READ_ON,
      },
    },
    lambdaGbSecond: {
      value: 0.0000133334,
      source: `${AWS_PRICING}, Lambda Arm, first 7.5B GB-s`,
      readOn: READ_ON,
    },
    lambdaPerMillionRequests: {
      value: 0.2,
      source: `${AWS_PRICING}, Lambda requests`,
      readOn: READ_ON,
    },
    apiGatewayRestPerMillionRequests: {
      value: 3.5,
      source: `${AWS_PRICING}, REST API first 333M`,
      readOn: READ_ON,
    },
    dynamodbPerMillionWriteUnits: {
      value: 0.625,
      source: `${AWS_PRICING}, DynamoDB on-demand`,
      readOn: READ_ON,
    },
    dynamodbPerMillionReadUnits: {
      value: 0.125,
      source: `${AWS_PRICING}, DynamoDB on-demand`,
      readOn: READ_ON,
    },
    cloudWatchLogsPerGbIngested: {
      value: 0.5,
      source: `${AWS_PRICING}, CloudWatch Logs standard`,
      readOn: READ_ON,
    },
    xrayPerMillionTraces: {
      value: 5,
      source: `${AWS_PRICING}, X-Ray traces recorded`,
      readOn: READ_ON,
    },
    kmsKeyMonth: { value: 1, source: `${AWS_PRICING}, KMS customer managed key`, readOn: READ_ON },
    cloudWatchAlarmMonth: {
      value: 0.1,
      source: `${AWS_PRICING}, CloudWatch standard alarm`,
      readOn: READ_ON,
    },
    vpcInterfaceEndpointHourPerAz: {
      value: 0.01,
      source: `${AWS_PRICING}, PrivateLink interface endpoint`,
      readOn: READ_ON,
    },
    wafWebAclMonth: { value: 5, source: `${AWS_PRICING}, AWS WAF web ACL`, readOn: READ_ON },
    wafRuleMonth: { value: 1, source: `${AWS_PRICING}, AWS WAF rule`, readOn: READ_ON },
    wafPerMillionRequests: {
      value: 0.6,
      source: `${AWS_PRICING}, AWS WAF requests inspected`,
      readOn: READ_ON,
    },
  },
  models: {
    'qwen3-8b': {
      decodeTokensPerSecondPerStream: Math.floor(21.9 * L40S_OVER_A40_BANDWIDTH),
      prefillTokensPerSecondPerCopy: l40sPrefill(1, 8.19e9),
      timeToFirstTokenMs: 250,
      kind: 'estimate',
      source: `${A40_BENCHMARK}: Qwen2.5-7B 21.9 tok/s per stream x L40S/A40 bandwidth 1.24; prefill 40% of 181 TFLOPS`,
    },
    'qwen3-14b': {
      decodeTokensPerSecondPerStream: Math.floor(10.6 * L40S_OVER_A40_BANDWIDTH),
      prefillTokensPerSecondPerCopy: l40sPrefill(1, 14.77e9),
      timeToFirstTokenMs: 400,
      kind: 'estimate',
      source: `${A40_BENCHMARK}: Qwen2.5-14B 10.6 tok/s per stream x L40S/A40 bandwidth 1.24; prefill 40% of 181 TFLOPS`,
    },
    'qwen3-32b': {
      // Two L40S (tensor parallel) read 2 x 864 GB/s for 2.2x the 14B's weights.
      decodeTokensPerSecondPerStream: Math.floor((10.6 * L40S_OVER_A40_BANDWIDTH * 2) / 2.2),
      prefillTokensPerSecondPerCopy: l40sPrefill(2, 32.76e9),
      timeToFirstTokenMs: 500,
      kind: 'estimate',
      source: `${A40_BENCHMARK}: Qwen2.5-14B per stream, x 2 L40S bandwidth / 2.2x the weights; prefill 40% of 2 x 181 TFLOPS`,
    },
  },
  gpuUtilization: 0.6,
  request: {
    chatFunctionMemoryMb: 1024,
    authorizerMemoryMb: 256,
    chatOverheadMs: 20,
    authorizerDurationMs: 15,
    authorizerCacheHitRatio: 0.9,
    // `npm run bench:metering`: 1 write before the model call and 2 after on Free, 2 and 3 on
    // paying tiers; plus one usage-aggregate update per ledger record. While a counter item holds
    // requests it is also in the due-time index, so its admission and settlement each write the
    // index too (docs/decisions.md, crash-safe reservations).
    dynamodbWriteUnits: 6,
    dynamodbReadUnits: 0,
    logBytes: 1_500,
    xraySampledRatio: 0.05,
    source:
      'npm run bench:metering (DynamoDB calls), bench:gateway (overhead), lib/constructs/api (memory)',
  },
  managedInstances: {
    instanceType: 'c7g.xlarge',
    vCpusPerInstance: 4,
    ec2InstanceHour: {
      value: 0.1445,
      source: `${AWS_PRICING}, EC2 On-Demand Linux c7g.xlarge`,
      readOn: READ_ON,
    },
    managementFeePercent: {
      value: 15,
      source:
        'AWS Lambda pricing, Lambda Managed Instances management fee (share of the EC2 On-Demand price)',
      readOn: READ_ON,
    },
    minInstances: 3,
    targetCpuUtilization: 0.5,
    maxConcurrentStreamsPerVCpu: 64,
    cpuMsPerRequest: 16,
    source:
      'npm run bench:gateway: 14.8-17.1 ms of gateway CPU per streamed request at concurrency 16 (2 cores, ' +
      '2026-12-01, two runs; 24.9-28.6 ms before the lean DynamoDB client and the node:http upstream)',
  },
  typicalRequest: { inputTokens: 1_000, outputTokens: 300 },
  hoursPerMonth: 730,
  daysPerMonth: 30,
};

/** Validates cost inputs; the message names each bad field. */
export function parseCostInputs(raw: unknown): CostInputs {
  const result = costInputsSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map(
      (i) => `  - ${i.path.join('.') || '(root)'}: ${i.message}`,
    );
    throw new Error(`Invalid cost inputs:\n${lines.join('\n')}\nFix them in lib/costs/inputs.ts.`);
  }
  return result.data;
}
