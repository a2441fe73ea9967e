import { z } from 'zod';
import { TIER_NAMES } from './tier-names';

/**
 * The one typed description of Tierline's tiers, models and prices. The CDK app reads it (usage
 * plans, instance types), the handlers bundle it (enforcement, pricing) and `GET /v1/plans`
 * publishes it. Keep this file free of AWS imports: it is bundled into the Lambda handlers.
 */

export { TIER_NAMES, type TierName } from './tier-names';

const positiveInt = z.int().positive();
/** Concurrent executions Lambda keeps unreserved in every account and region. */
export const UNRESERVED_CONCURRENCY = 100;
const usd = z.number().nonnegative();

/** Lowercase letters, digits, dots and dashes: usable as a DynamoDB key part and in a SageMaker name. */
const modelId = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9.-]{0,62}$/,
    'must be lowercase letters, digits, "." and "-" (at most 63 characters)',
  );

const limitsShape = {
  /** Requests per minute. */
  rpm: positiveInt,
  /** Requests per day (UTC). */
  rpd: positiveInt,
  /** Tokens (input + output) per minute. */
  tpm: positiveInt,
  /** Tokens (input + output) per day (UTC). */
  tpd: positiveInt,
};

function withLimitChecks<T extends z.ZodType<ModelLimits>>(schema: T) {
  return schema
    .refine((l) => l.rpm <= l.rpd, {
      message: 'rpm must not exceed rpd: lower rpm or raise rpd',
      path: ['rpm'],
    })
    .refine((l) => l.tpm <= l.tpd, {
      message: 'tpm must not exceed tpd: lower tpm or raise tpd',
      path: ['tpm'],
    });
}

export interface ModelLimits {
  rpm: number;
  rpd: number;
  tpm: number;
  tpd: number;
  /**
   * What `tpm` and `tpd` count. Absent: tokens per minute and per day. `audio_seconds`: a
   * speech-to-text model's audio seconds per HOUR (ASH, in `tpm`) and per day (ASD, in `tpd`); the
   * short window is then an hour (metering/rate-limits.ts).
   */
  measure?: 'audio_seconds';
}

/** Per-model request and token limits (also the shape of an Enterprise customer's custom limits). */
export const modelLimitsSchema = withLimitChecks(z.object(limitsShape).strict());

/** A model as a tier offers it: limits and prices. */
export const tierModelOfferSchema = withLimitChecks(
  z
    .object({
      ...limitsShape,
      /** USD per 1M input (prompt) tokens. */
      inputUsdPerMillion: usd,
      /** USD per 1M output (completion) tokens. */
      outputUsdPerMillion: usd,
    })
    .strict(),
);
export type TierModelOffer = z.infer<typeof tierModelOfferSchema>;

/**
 * A speech-to-text model as a tier offers it (Groq's figures for Whisper): requests per minute and
 * day, audio seconds per hour (ASH) and per day (ASD), and a price per hour of audio.
 */
export const speechOfferSchema = z
  .object({
    /** Requests per minute. */
    rpm: positiveInt,
    /** Requests per day (UTC). */
    rpd: positiveInt,
    /** Audio seconds per hour (UTC hours), counted from each file's real duration. */
    ash: positiveInt,
    /** Audio seconds per day (UTC). */
    asd: positiveInt,
    /** USD per hour of audio transcribed or translated. */
    usdPerHour: usd,
  })
  .strict()
  .refine((l) => l.rpm <= l.rpd, {
    message: 'rpm must not exceed rpd: lower rpm or raise rpd',
    path: ['rpm'],
  })
  .refine((l) => l.ash <= l.asd, {
    message: 'ash must not exceed asd: lower ash or raise asd',
    path: ['ash'],
  });
export type SpeechOffer = z.infer<typeof speechOfferSchema>;

/** API Gateway usage plan settings: the coarse, request-counting shield at the edge. */
export const edgeSchema = z
  .object({
    /** Steady-state requests per second per API key (usage plan throttle rateLimit). */
    rateLimit: z.number().positive(),
    /** Burst bucket size per API key (usage plan throttle burstLimit). */
    burstLimit: positiveInt,
    /** Optional request quota per API key; absent means no quota at the edge. */
    quota: z
      .object({
        limit: positiveInt,
        period: z.enum(['DAY', 'WEEK', 'MONTH']),
      })
      .strict()
      .optional(),
  })
  .strict()
  .refine((e) => e.burstLimit >= e.rateLimit, {
    message:
      'burstLimit must be at least rateLimit, or API Gateway throttles below the configured rate',
    path: ['burstLimit'],
  });
export type EdgeSettings = z.infer<typeof edgeSchema>;

/**
 * Most keys a tier's pool may hold. Each pool key takes one of the region's 10,000 API Gateway keys
 * (not raisable) and two resources of the pool's nested stack (CloudFormation: 500); key values end
 * in two digits.
 */
export const MAX_POOL_KEYS = 100;

/**
 * A pool of API Gateway keys a tier's customers share (docs/operating.md, "Past 10,000 customers"):
 * a customer's usage identifier is the pool key its id hashes to, so creating one calls no
 * `CreateApiKey`. The throttle holds per pool key, for the group of customers on it; there is no
 * quota, because a quota would be shared by strangers (each customer's limits are exact in
 * DynamoDB). Grow `keys` only: a customer keeps the pool key it was given, and a key removed by
 * shrinking the pool leaves its customers on no usage plan (API Gateway answers 403).
 */
export const edgePoolSchema = z
  .object({
    keys: positiveInt.max(MAX_POOL_KEYS),
    /** Steady-state requests per second per pool key (its group of customers together). */
    rateLimit: z.number().positive(),
    /** Burst bucket size per pool key. */
    burstLimit: positiveInt,
  })
  .strict()
  .refine((p) => p.burstLimit >= p.rateLimit, {
    message:
      'burstLimit must be at least rateLimit, or API Gateway throttles below the configured rate',
    path: ['burstLimit'],
  });
export type EdgePool = z.infer<typeof edgePoolSchema>;

export const tierSchema = z
  .object({
    displayName: z.string().min(1),
    description: z.string().min(1),
    /** The models this tier may call, with their limits and prices. A model absent here answers 403. */
    models: z.record(modelId, tierModelOfferSchema).refine((m) => Object.keys(m).length > 0, {
      message: 'a tier needs at least one model',
    }),
    /** The speech-to-text models this tier may call (`/v1/audio/*`); absent or empty: none. */
    speechToText: z.record(modelId, speechOfferSchema).default({}),
    batch: z
      .object({
        allowed: z.boolean(),
        /** Discount on token prices for batch requests, in percent. */
        discountPercent: z.number().min(0).max(100),
        /** Longest completion window a batch may ask for, in hours (Groq: 24 hours to 7 days). */
        maxCompletionWindowHours: z.int().min(24).max(720).default(168),
        /** Batches a customer may have open (validating, in progress, finalizing, cancelling) at once. */
        maxOpenBatches: positiveInt.default(10),
        /** Lines (requests) of one batch at most. */
        maxLinesPerBatch: positiveInt.default(50_000),
        /**
         * Tokens (prompt estimate + max output of every line) a customer may have enqueued per
         * model across its open batches, OpenAI's "batch queue limit": taken when a batch is
         * validated, given back line by line.
         */
        maxEnqueuedTokensPerModel: positiveInt.default(50_000_000),
      })
      .strict(),
    spendLimit: z
      .object({
        allowed: z.boolean(),
        /** Monthly limit in USD a new customer starts with; absent means none until the customer sets one. */
        defaultMonthlyUsd: usd.optional(),
        /** Percentages of the limit at which an alert event is published (once per threshold per month). */
        alertThresholdsPercent: z.array(z.number().gt(0).lt(100)),
      })
      .strict(),
    lora: z
      .object({
        /** LoRA fine-tuning jobs and uploaded adapters. Off answers 403 naming the tiers that have it. */
        allowed: z.boolean(),
        /** Premium on the base model's token prices for a fine-tuned adapter, in percent. */
        premiumPercent: z.number().min(0),
        /** USD per 1M trained tokens (tokens of the training file x epochs), reserved at job creation. */
        trainingUsdPerMillionTokens: usd.default(0),
      })
      .strict(),
    edge: edgeSchema,
    /**
     * A shared key pool for this tier's new customers; absent or null (how an override turns the
     * default's off): each customer gets its own key.
     */
    edgePool: edgePoolSchema.nullish(),
    /**
     * Bytes of files a customer may keep (uploads, and the batch output files Tierline writes for
     * it), and of the input its stored responses keep that their model never saw (the turns
     * `truncation: auto` dropped). OpenAI allows an organization 1 TB. Batch output files are always
     * written and counted, never refused.
     */
    storageQuotaBytes: positiveInt.default(100 * 1000 * 1000 * 1000),
  })
  .strict();
export type TierConfig = z.infer<typeof tierSchema>;

const instanceType = z
  .string()
  .regex(/^ml\.[a-z0-9]+\.[a-z0-9]+$/, 'must be a SageMaker instance type such as ml.g5.2xlarge');

/** Llama-style decoder dimensions, as in the weights' config.json. */
export const architectureSchema = z
  .object({
    hiddenSize: positiveInt,
    intermediateSize: positiveInt,
    layers: positiveInt,
    attentionHeads: positiveInt,
    keyValueHeads: positiveInt,
    headDim: positiveInt,
  })
  .strict()
  .refine((a) => a.attentionHeads % a.keyValueHeads === 0, {
    message: 'attentionHeads must be a multiple of keyValueHeads',
    path: ['keyValueHeads'],
  });
export type ModelArchitecture = z.infer<typeof architectureSchema>;

/** Modules of a Llama-style decoder layer that LoRA may adapt (PEFT's and vLLM's names). */
export const LORA_MODULES = [
  'q_proj',
  'k_proj',
  'v_proj',
  'o_proj',
  'gate_proj',
  'up_proj',
  'down_proj',
] as const;

/** LoRA training and serving, for every model and tier. */
export const fineTuningSchema = z
  .object({
    lora: z
      .object({
        /** Ranks accepted for jobs and uploaded adapters (Groq accepts 8, 16, 32 and 64). */
        ranks: z.array(positiveInt).min(1),
        defaultRank: positiveInt,
        /** Bounds of lora_alpha. */
        alpha: z.object({ min: positiveInt, max: positiveInt }).strict(),
        defaultAlpha: positiveInt,
        /** Modules adapters may target, and those a training job targets by default. */
        targetModules: z.array(z.enum(LORA_MODULES)).min(1),
        defaultTargetModules: z.array(z.enum(LORA_MODULES)).min(1),
      })
      .strict(),
    /** vLLM's LoRA settings on every base inference component (LMI `OPTION_*`). */
    serving: z
      .object({
        /** Adapters active in one batch on the GPUs (`OPTION_MAX_LORAS`). */
        maxActiveAdapters: positiveInt,
        /** Adapters kept in host memory, ready to swap in (`OPTION_MAX_CPU_LORAS`). */
        maxCachedAdapters: positiveInt,
      })
      .strict(),
    training: z
      .object({
        /** Hugging Face PyTorch training image (with transformers and peft); `${AWS::Region}` is substituted. */
        image: z.string().min(1),
        /** StoppingCondition.MaxRuntimeInSeconds: a job still running then is stopped and fails. */
        maxRuntimeSeconds: z
          .int()
          .min(600)
          .max(28 * 24 * 3600),
        /** ML storage volume of the training instance (base weights + checkpoints). */
        volumeSizeGb: z.int().min(1).max(16_384),
        /** Fewest conversations a training file must hold (OpenAI requires 10). */
        minExamples: positiveInt,
        /** Most trained tokens (file tokens x epochs) of one job. */
        maxTrainedTokens: positiveInt,
        /** Most bytes of a training file the API reads to check it. */
        maxFileBytes: positiveInt,
        /**
         * The training sequence cap: most tokens of one conversation (as the base model's chat
         * template renders it). The API refuses a training file with a longer line, naming the
         * lines; the script trains at most this many tokens of an example (its max_seq_length).
         * Activation memory grows with it, not with the model's context window.
         */
        maxSequenceTokens: positiveInt.max(131_072).default(4096),
        /**
         * Padded tokens in one forward pass (rows x longest row): the requested batch size is
         * reached by gradient accumulation over micro-batches of at most this many tokens. At least
         * maxSequenceTokens.
         */
        microBatchTokens: positiveInt.max(1_048_576).default(8192),
        /**
         * Managed spot training (EnableManagedSpotTraining): up to 90% cheaper; an interrupted job
         * restarts and resumes from its last checkpoint. maxWaitSeconds (MaxWaitTimeInSeconds)
         * bounds waiting for capacity plus running, and must be at least maxRuntimeSeconds.
         */
        spot: z
          .object({
            enabled: z.boolean(),
            maxWaitSeconds: z
              .int()
              .min(600)
              .max(28 * 24 * 3600),
          })
          .strict()
          .default({ enabled: false, maxWaitSeconds: 48 * 3600 }),
      })
      .strict()
      .refine((t) => t.microBatchTokens >= t.maxSequenceTokens, {
        message:
          'microBatchTokens must be at least maxSequenceTokens (the longest example is one forward pass)',
        path: ['microBatchTokens'],
      })
      .refine((t) => !t.spot.enabled || t.spot.maxWaitSeconds >= t.maxRuntimeSeconds, {
        // StoppingCondition.MaxWaitTimeInSeconds "must be equal to or greater than
        // MaxRuntimeInSeconds".
        message:
          'spot.maxWaitSeconds must be at least maxRuntimeSeconds (SageMaker refuses a shorter wait)',
        path: ['spot', 'maxWaitSeconds'],
      }),
  })
  .strict()
  .refine((f) => f.lora.ranks.includes(f.lora.defaultRank), {
    message: 'defaultRank must be one of ranks',
    path: ['lora', 'defaultRank'],
  })
  .refine(
    (f) => f.lora.alpha.min <= f.lora.defaultAlpha && f.lora.defaultAlpha <= f.lora.alpha.max,
    {
      message: 'defaultAlpha must lie within alpha.min and alpha.max',
      path: ['lora', 'defaultAlpha'],
    },
  )
  .refine((f) => f.lora.defaultTargetModules.every((m) => f.lora.targetModules.includes(m)), {
    message: 'defaultTargetModules must all be in targetModules',
    path: ['lora', 'defaultTargetModules'],
  })
  .refine((f) => f.serving.maxActiveAdapters <= f.serving.maxCachedAdapters, {
    message:
      'maxActiveAdapters must not exceed maxCachedAdapters (vLLM requires max_cpu_loras >= max_loras)',
    path: ['serving', 'maxActiveAdapters'],
  });
export type FineTuningConfig = z.infer<typeof fineTuningSchema>;

export const modelSchema = z
  .object({
    displayName: z.string().min(1),
    /** Who publishes the weights; shown as `owned_by` in `/v1/models`. */
    ownedBy: z.string().min(1),
    contextWindow: positiveInt,
    maxOutputTokens: positiveInt,
    /**
     * Container image URI of an LMI/vLLM-style server that speaks the OpenAI messages format.
     * `${AWS::Region}` is replaced with the stack's region at deploy time.
     */
    containerImage: z.string().min(1),
    /** Where the container loads weights from: an `s3://` URI or a Hugging Face model id. */
    weights: z.string().min(1),
    /**
     * The model's tokenizer and chat template, for counting prompt tokens at admission. Without
     * one, prompts are counted as one token per UTF-8 byte (an upper bound for byte-level BPE
     * tokenizers).
     */
    tokenizer: z.enum(['llama-3', 'qwen3']).optional(),
    instanceType,
    /** Minimum and maximum instances behind the endpoint (managed instance scaling). */
    instanceCount: z.object({ min: z.int().nonnegative(), max: positiveInt }).strict(),
    /** GPUs one copy of the model needs. */
    acceleratorsPerCopy: positiveInt,
    /** Host memory one copy needs, in MiB. */
    memoryMiBPerCopy: positiveInt,
    /** Most copies of the model (inference component copies) autoscaling may run. */
    maxCopies: positiveInt,
    /**
     * The transformer's dimensions (from the weights' config.json): LoRA adapters are checked
     * against them. A model without them takes no adapters.
     */
    architecture: architectureSchema.optional(),
    /** Weights of the model (its parameter count, from the model card): the GPU-memory check at synth needs it. */
    parameters: positiveInt.optional(),
    /**
     * The weights are gated on Hugging Face (a licence to accept, a token to download). Defaults to
     * whether the repository's organisation is in `GATED_WEIGHT_PREFIXES`. A gated model needs
     * `s3://` weights or `hfTokenSecretArn`: without either its container never starts and the
     * stack rolls back after an hour.
     */
    gated: z.boolean().optional(),
    /**
     * A Secrets Manager secret (its ARN) holding a Hugging Face token, given to the container as
     * `HF_TOKEN`. SageMaker's container environment takes plain strings only, so CloudFormation
     * resolves the secret at deploy time (a `{{resolve:secretsmanager:...}}` dynamic reference):
     * the template never holds the token, but `DescribeModel` shows it to whoever may call it.
     * Prefer `s3://` weights for production.
     */
    hfTokenSecretArn: z
      .string()
      .regex(
        /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$/,
        'must be a Secrets Manager secret ARN',
      )
      .optional(),
    /**
     * The model thinks before it answers (Qwen3: its chat template does unless told
     * `enable_thinking: false`). The API then takes Groq's `reasoning_format`, `include_reasoning`
     * and `reasoning_effort`, and the container splits the thinking out with vLLM's reasoning
     * parser of this name (LMI `OPTION_REASONING_PARSER`).
     */
    reasoning: z
      .object({ parser: z.enum(['qwen3']) })
      .strict()
      .optional(),
    /** When the model stops being served (ISO date), published as `shutdown_date` in `/v1/models`. */
    shutdownDate: z.iso.date().optional(),
    /**
     * How densely one copy serves: the ONE number the container (vLLM `max_num_seqs`, LMI
     * `OPTION_MAX_ROLLING_BATCH_SIZE`), the autoscaling target (`targetConcurrencyPerCopy`) and the
     * cost model (`npx tierline costs`) read.
     */
    serving: z
      .object({
        /** Sequences one copy decodes at once (vLLM `max_num_seqs`). */
        sequencesPerCopy: positiveInt,
        /** Share of each GPU's memory vLLM may take (`gpu_memory_utilization`, vLLM's default 0.9). */
        gpuMemoryUtilization: z.number().gt(0).max(0.95),
        /** KV-cache tokens each of those sequences holds on average (prompt + answer); the synth check uses it. */
        kvTokensPerSequence: positiveInt,
      })
      .strict()
      .default({ sequencesPerCopy: 32, gpuMemoryUtilization: 0.9, kvTokensPerSequence: 2_048 }),
    /**
     * GPU instance type of the SageMaker training job that fine-tunes this model (the script trains
     * on one GPU: the bf16 weights must fit in its memory). Absent: no training jobs, uploaded
     * adapters only.
     */
    trainingInstanceType: instanceType.optional(),
  })
  .strict()
  .refine((m) => m.maxOutputTokens <= m.contextWindow, {
    message: 'maxOutputTokens must not exceed contextWindow',
    path: ['maxOutputTokens'],
  })
  .refine((m) => m.instanceCount.min <= m.instanceCount.max, {
    message: 'instanceCount.min must not exceed instanceCount.max',
    path: ['instanceCount', 'min'],
  });
export type ModelConfig = z.infer<typeof modelSchema>;

/**
 * A speech-to-text model (Whisper) on its own SageMaker endpoint: the container takes the audio file
 * and answers its transcription (`lambda/inference/backends/speech-backend.ts`).
 */
export const speechModelSchema = z
  .object({
    displayName: z.string().min(1),
    /** Who publishes the weights; shown as `owned_by` in `/v1/models`. */
    ownedBy: z.string().min(1),
    /** Container image URI of a server with vLLM's `/v1/audio/transcriptions` and `/translations`. */
    containerImage: z.string().min(1),
    /** A Hugging Face model id or an `s3://` URI. */
    weights: z.string().min(1),
    instanceType,
    instanceCount: z.object({ min: z.int().nonnegative(), max: positiveInt }).strict(),
    /** Weights of the model (its parameter count, from the model card): the GPU-memory check needs it. */
    parameters: positiveInt,
    /** The least audio a request is billed, in seconds (Groq: 10 s). */
    minimumBilledSeconds: z.int().nonnegative().default(10),
    /** The model can translate into English (`/v1/audio/translations`); Whisper turbo cannot. */
    translates: z.boolean(),
  })
  .strict();
export type SpeechModelConfig = z.infer<typeof speechModelSchema>;

/**
 * Hugging Face organisations whose repositories are gated (a licence to accept before download):
 * Meta's Llama, Google's Gemma. A model elsewhere that is gated says so with `gated: true`.
 */
export const GATED_WEIGHT_PREFIXES = ['meta-llama/', 'google/gemma'] as const;

export function isGated(model: Pick<ModelConfig, 'weights' | 'gated'>): boolean {
  return model.gated ?? GATED_WEIGHT_PREFIXES.some((prefix) => model.weights.startsWith(prefix));
}

/**
 * Concurrent requests per copy that autoscaling aims for, and at which the cost model prices a
 * copy: the environment's share of the model's sequences per copy.
 */
export function targetConcurrencyPerCopy(
  model: Pick<ModelConfig, 'serving'>,
  environment: Pick<EnvironmentConfig, 'inference'>,
): number {
  return Math.max(
    1,
    Math.floor(
      (model.serving.sequencesPerCopy * environment.inference.targetUtilizationPercent) / 100,
    ),
  );
}

export const environmentSchema = z
  .object({
    /** Short name used in stack and resource names, e.g. `dev` or `prod`. */
    name: z
      .string()
      .regex(
        /^[a-z][a-z0-9-]{0,15}$/,
        'must be 1-16 lowercase letters, digits or dashes, starting with a letter',
      ),
    /** Keep tables (and later buckets) when their stack is deleted. Production data must be retained. */
    retainData: z.boolean(),
    /** CloudFormation termination protection on the stateful stack. */
    terminationProtection: z.boolean(),
    logRetentionDays: z.union([
      z.literal(1),
      z.literal(3),
      z.literal(5),
      z.literal(7),
      z.literal(14),
      z.literal(30),
      z.literal(60),
      z.literal(90),
      z.literal(180),
      z.literal(365),
    ]),
    /** How long API Gateway caches an authorizer decision per key. Revocation takes effect within it. */
    authorizerCacheTtlSeconds: z.int().min(0).max(3600),
    /**
     * Origins whose pages may call the API from a browser (CORS), e.g.
     * `https://console.example.com`; `*` allows any page. Keys are Bearer tokens, never cookies, so
     * `*` lets no page use a key it lacks.
     */
    corsAllowedOrigins: z
      .array(
        z.union([
          z.literal('*'),
          z.url({ protocol: /^https?$/ }).regex(/^[^/]+\/\/[^/]+$/, 'an origin has no path'),
        ]),
      )
      .default(['*']),
    /** Stage-wide throttle: protects the public routes that no usage plan covers. */
    stageThrottle: z.object({ rateLimit: z.number().positive(), burstLimit: positiveInt }).strict(),
    /**
     * A regional AWS WAF web ACL on the stage that answers 413 (OpenAI-shaped) for a body larger
     * than the API function receives (API Gateway accepts 10 MB, a Lambda event 6 MB; without it
     * such a request gets API Gateway's generic 5xx). Costs $5 a month for the web ACL, $1 per rule
     * (2) and $0.60 per million requests (docs/operating.md).
     */
    requestSizeGuard: z.boolean().default(false),
    /**
     * The AWS region to deploy to, written into the templates. Left out, the stacks are
     * region-agnostic: every ARN says `${AWS::Region}` and CloudFormation fills in the region the
     * stack is deployed to. Never taken from `CDK_DEFAULT_REGION`, which the CDK CLI sets to
     * us-east-1 when nothing else names a region.
     */
    region: z
      .string()
      .regex(/^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$/, 'must be an AWS region code, e.g. eu-west-1')
      .optional(),
    /**
     * Let this environment's app create API Gateway's account-wide CloudWatch Logs role (a small
     * stack of its own, `Tierline-ApiGatewayAccount`, one per account and region, kept when
     * deleted). Set false where the account already has one (`aws apigateway get-account` shows
     * `cloudwatchRoleArn`): the stages log through it, and a deploy fails without one.
     */
    manageApiGatewayAccountRole: z.boolean().default(true),
    /**
     * Lambda's concurrent executions quota of the account in this region (Service Quotas
     * L-B99A9384; 1,000 by default, lower in some new accounts: `aws lambda get-account-settings`).
     * Lambda keeps 100 of it unreserved, so the reservations below must leave that much.
     */
    accountConcurrency: positiveInt.default(1_000),
    /**
     * Reserved concurrency of the request path's functions: each is guaranteed this many concurrent
     * executions and capped at it, so a burst of 15-minute chat streams cannot take the account's
     * concurrency and starve the authorizer (every route would answer 500). Not applied to a chat
     * function on Managed Instances, which runs on its capacity provider's instances
     * (`maxVCpuCount` caps it) instead.
     */
    reservedConcurrency: z
      .object({
        /** Key checks: milliseconds each, and API Gateway caches a decision per key (authorizerCacheTtlSeconds). */
        authorizer: positiveInt,
        /** Every buffered route (models, files, batches, usage...), up to 29 s each. */
        api: positiveInt,
        /** Chat completion streams held open at once, up to 15 minutes each. */
        chat: positiveInt,
      })
      .strict(),
    inference: z
      .object({
        /**
         * Let inference components scale to zero copies (and endpoints to zero instances) when
         * idle: no GPU cost while idle, but the first request after that waits minutes and is
         * answered 503 + retry-after.
         */
        scaleToZero: z.boolean(),
        /**
         * Share of a model's `serving.sequencesPerCopy`, in percent, at which autoscaling adds a
         * copy (its target of concurrent requests per copy); the cost model prices a copy at the
         * same concurrency.
         */
        targetUtilizationPercent: z.int().min(1).max(100).default(75),
      })
      .strict(),
    /**
     * Where the chat function runs. `lambda` (default): one invocation per request, billed (memory
     * x time) for the whole stream while it waits for the GPU. `managed-instances`: Lambda Managed
     * Instances, many streams per execution environment on EC2 instances of a capacity provider in
     * a VPC of its own, billed per instance (at least 3 run, for AZ resiliency): cheaper at volume;
     * `npx tierline costs` shows where.
     */
    chatCompute: z
      .discriminatedUnion('kind', [
        z.object({ kind: z.literal('lambda') }).strict(),
        z
          .object({
            kind: z.literal('managed-instances'),
            /** Ceiling of the capacity provider's instances, in vCPUs (AWS's default is 400). */
            maxVCpuCount: z.int().min(2).max(400),
            /** Streams one execution environment takes at once (AWS allows 1-1600; Node.js default 64 per vCPU). */
            perExecutionEnvironmentMaxConcurrency: z.int().min(1).max(1600),
            /** Memory per vCPU of an execution environment, in GiB (AWS: 2, 4 or 8). */
            memoryGiBPerVCpu: z.union([z.literal(2), z.literal(4), z.literal(8)]),
            /**
             * The Availability Zones of the VPC's subnets, e.g. `["eu-west-1a", "eu-west-1b",
             * "eu-west-1c"]`. Left out: the first three of the region's (`Fn::GetAZs`), resolved at
             * deploy, which fails in a region offering fewer. AWS: "Specify subnets across multiple
             * Availability Zones ... Lambda launches three instances by default for AZ resiliency"
             * (Lambda Managed Instances best practices).
             */
            availabilityZones: z
              .array(
                z
                  .string()
                  .regex(
                    /^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d[a-z]$/,
                    'must be an AZ name, e.g. eu-west-1a',
                  ),
              )
              .min(2)
              .max(6)
              .optional(),
          })
          .strict(),
      ])
      .default({ kind: 'lambda' }),
  })
  .strict()
  .superRefine((env, ctx) => {
    const { authorizer, api, chat } = env.reservedConcurrency;
    // A chat function on Managed Instances reserves nothing (its capacity provider bounds it).
    const reserved = authorizer + api + (env.chatCompute.kind === 'lambda' ? chat : 0);
    // PutFunctionConcurrency: "Lambda automatically reserves a buffer of 100 concurrent executions
    // for functions without any reserved concurrency limit" (AWS Lambda API reference); a deploy
    // past it fails.
    if (reserved > env.accountConcurrency - UNRESERVED_CONCURRENCY) {
      ctx.addIssue({
        code: 'custom',
        path: ['reservedConcurrency'],
        message: `reserves ${reserved} concurrent executions, but Lambda keeps ${UNRESERVED_CONCURRENCY} of the account's ${env.accountConcurrency} unreserved (at most ${env.accountConcurrency - UNRESERVED_CONCURRENCY}): lower the reservations, or raise the account's concurrency quota and set accountConcurrency`,
      });
    }
    const az =
      env.chatCompute.kind === 'managed-instances' ? env.chatCompute.availabilityZones : undefined;
    if (az && env.region && az.some((zone) => !zone.startsWith(env.region ?? ''))) {
      ctx.addIssue({
        code: 'custom',
        path: ['chatCompute', 'availabilityZones'],
        message: `every Availability Zone must be in the region ${env.region} (e.g. ${env.region}a)`,
      });
    }
  });
export type EnvironmentConfig = z.infer<typeof environmentSchema>;
/** What environment definitions write: optional fields may be left out. */
export type EnvironmentConfigInput = z.input<typeof environmentSchema>;

/** Limits of the Files and Uploads APIs (every tier). */
export const filesSchema = z
  .object({
    /** Largest file, in bytes, through the Uploads API (Groq and OpenAI: 200 MB for batch input). */
    maxFileBytes: positiveInt,
    /** Most lines in a JSONL file (Groq: 50,000 per batch file). */
    maxLinesPerFile: positiveInt,
    /** How long an upload (`POST /v1/uploads`) may stay open before it expires, in seconds (OpenAI: 1 hour). */
    uploadExpirySeconds: positiveInt,
    /**
     * Parts one upload takes at most. OpenAI's parts are up to 64 MB for 8 GB; here a part is at
     * most one 4 MiB request, so a 200 MB file needs 48: the cap only stops an upload from growing
     * without end.
     */
    maxPartsPerUpload: positiveInt.default(1_000),
  })
  .strict();
export type FilesConfig = z.infer<typeof filesSchema>;

export const DEFAULT_FILES_CONFIG: FilesConfig = {
  maxFileBytes: 200 * 1000 * 1000,
  maxLinesPerFile: 50_000,
  uploadExpirySeconds: 3_600,
  maxPartsPerUpload: 1_000,
};
/**
 * One usage tier inside Developer (OpenAI's idea): reached once the organization has paid at least
 * `minPaidUsd` in total and its first payment is at least `minDaysSinceFirstPayment` days old; its
 * models' limits are Developer's times `limitMultiplier`.
 */
export const usageTierSchema = z
  .object({
    name: z.string().min(1).max(32),
    minPaidUsd: z.number().min(0),
    minDaysSinceFirstPayment: z.number().int().min(0).max(3_650),
    limitMultiplier: z.number().min(1).max(1_000),
  })
  .strict();
export type UsageTier = z.infer<typeof usageTierSchema>;

/** Pay-per-token billing (lambda/billing/). */
export const billingSchema = z
  .object({
    /**
     * Usage tiers inside Developer, lowest first; none (the default) turns them off. Each step
     * must ask for at least what the one before asks, and give at least its multiplier.
     */
    usageTiers: z
      .array(usageTierSchema)
      .max(10)
      .default([])
      .refine(
        (tiers) =>
          tiers.every(
            (tier, i) =>
              i === 0 ||
              (tier.minPaidUsd >= (tiers[i - 1]?.minPaidUsd ?? 0) &&
                tier.minDaysSinceFirstPayment >= (tiers[i - 1]?.minDaysSinceFirstPayment ?? 0) &&
                tier.limitMultiplier >= (tiers[i - 1]?.limitMultiplier ?? 1)),
          ),
        { message: 'usage tiers must be ordered: each asks for and gives at least the one before' },
      ),
    /**
     * Days from a failed payment (Stripe's `invoice.payment_failed`) to Free limits, while Stripe
     * retries the charge; the invoice's payment ends the grace (or the Free limits) at once.
     */
    paymentGraceDays: positiveInt.max(60).default(7),
  })
  .strict();
export type BillingConfig = z.infer<typeof billingSchema>;
export const DEFAULT_BILLING_CONFIG: BillingConfig = { paymentGraceDays: 7, usageTiers: [] };

/** What the customer console shows that only the operator knows. */
export const consoleSchema = z
  .object({
    /** "How to upgrade", on the console's Plan page and in `GET /v1/plans`: a sentence and an optional link. */
    upgrade: z
      .object({
        text: z.string().min(1),
        url: z.url({ protocol: /^https?$/ }).optional(),
      })
      .strict(),
  })
  .strict();
export type ConsoleConfig = z.infer<typeof consoleSchema>;

/** Self-service sign-up (lambda/accounts/sign-up.ts): who may create a Free organization. */
export const signUpSchema = z
  .object({
    /**
     * Domains whose addresses may not create an organization (throwaway mail services), matched
     * on the address's domain and its parents; lower case, without `@`. Empty by default.
     */
    disposableDomains: z
      .array(
        z
          .string()
          .regex(/^[a-z0-9-]+(\.[a-z0-9-]+)+$/, 'a domain in lower case, such as mailinator.com'),
      )
      .max(100_000)
      .default([]),
    /** Sign-up calls one address may make per hour (retries included) before 429. */
    attemptsPerHour: positiveInt.max(1_000).default(10),
  })
  .strict();
export type SignUpConfig = z.infer<typeof signUpSchema>;
export const DEFAULT_SIGN_UP_CONFIG: SignUpConfig = { disposableDomains: [], attemptsPerHour: 10 };

/** The address in `Name <address>` or a bare address. */
export const senderAddressOf = (from: string) => /<([^<>\s]+)>\s*$/.exec(from)?.[1] ?? from.trim();

/**
 * E-mail through Amazon SES v2 (invitations, billing's notices): the sender and the SES identity
 * the operator verified in the deployment's region (docs/operating.md, "E-mail through Amazon
 * SES"). Absent: nothing is sent, the mail is written to the functions' logs.
 */
export const mailSchema = z
  .object({
    /**
     * `Tierline <no-reply@example.com>` or `no-reply@example.com`: an address at `identity`. ASCII
     * only: SES takes a non-ASCII display name only MIME-encoded (RFC 2047), which this does not do.
     */
    from: z
      .string()
      .min(3)
      .max(320)
      .regex(/^[\x20-\x7e]+$/, 'printable ASCII: SES wants a non-ASCII display name MIME-encoded'),
    /** The verified identity that address belongs to: the domain (`example.com`) or the address. */
    identity: z
      .string()
      .regex(
        /^([^\s@<>]+@)?[a-z0-9-]+(\.[a-z0-9-]+)+$/,
        'a verified SES identity: a domain in lower case (example.com) or an address',
      ),
    /** An SES configuration set to send with (events, suppression); the functions get it too. */
    configurationSet: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, "SES's configuration set name: letters, digits, _ and -")
      .optional(),
  })
  .strict()
  .superRefine((mail, ctx) => {
    const address = senderAddressOf(mail.from).toLowerCase();
    const domain = address.split('@')[1] ?? '';
    const identity = mail.identity.toLowerCase();
    // SES authorizes the address's own identity, else its domain's (a parent domain covers its
    // subdomains): the role may send from `identity` only.
    const covered = identity.includes('@')
      ? address === identity
      : domain === identity || domain.endsWith(`.${identity}`);
    if (!/^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$/.test(address) || !covered) {
      ctx.addIssue({
        code: 'custom',
        path: ['from'],
        message: `"${mail.from}" is not an address at the identity "${mail.identity}": the functions may send only from that identity`,
      });
    }
  });
export type MailConfig = z.infer<typeof mailSchema>;

export const configSchema = z
  .object({
    environment: environmentSchema,
    files: filesSchema.default(DEFAULT_FILES_CONFIG),
    billing: billingSchema.default(DEFAULT_BILLING_CONFIG),
    signUp: signUpSchema.default(DEFAULT_SIGN_UP_CONFIG),
    console: consoleSchema,
    mail: mailSchema.optional(),
    models: z.record(modelId, modelSchema).refine((m) => Object.keys(m).length > 0, {
      message: 'the catalog needs at least one model',
    }),
    tiers: z.object({ free: tierSchema, developer: tierSchema, enterprise: tierSchema }).strict(),
    /** Speech-to-text models (Whisper), each on its own endpoint; tiers offer them in `speechToText`. */
    speechModels: z.record(modelId, speechModelSchema).default({}),
    fineTuning: fineTuningSchema,
  })
  .strict()
  .superRefine((config, ctx) => {
    for (const tier of TIER_NAMES) {
      for (const model of Object.keys(config.tiers[tier].models)) {
        if (!(model in config.models)) {
          ctx.addIssue({
            code: 'custom',
            path: ['tiers', tier, 'models', model],
            message: `model "${model}" is not in the catalog: add it under "models" or remove it from this tier (catalog: ${Object.keys(config.models).join(', ')})`,
          });
        }
      }
    }
    for (const tier of TIER_NAMES) {
      for (const model of Object.keys(config.tiers[tier].speechToText)) {
        if (!(model in config.speechModels)) {
          ctx.addIssue({
            code: 'custom',
            path: ['tiers', tier, 'speechToText', model],
            message: `speech model "${model}" is not in "speechModels": add it there or remove it from this tier`,
          });
        }
      }
    }
    for (const id of Object.keys(config.speechModels)) {
      if (id in config.models) {
        ctx.addIssue({
          code: 'custom',
          path: ['speechModels', id],
          message: `"${id}" is both a chat model and a speech model: a model id names one model`,
        });
      }
    }
    for (const [id, model] of Object.entries(config.models)) {
      if (isGated(model) && !model.weights.startsWith('s3://') && !model.hfTokenSecretArn) {
        ctx.addIssue({
          code: 'custom',
          path: ['models', id, 'weights'],
          message:
            `"${model.weights}" is gated on Hugging Face: the container cannot download it and the stack would roll ` +
            'back after the hour-long startup timeout. Copy the weights to S3 and set weights to s3://BUCKET/PREFIX/, ' +
            'set hfTokenSecretArn to a Secrets Manager secret holding a token that accepted the licence, or choose ' +
            'an ungated model (for example Qwen/Qwen3-8B, Apache-2.0).',
        });
      }
    }
    if (!config.tiers.free.edge.quota) {
      ctx.addIssue({
        code: 'custom',
        path: ['tiers', 'free', 'edge', 'quota'],
        message:
          'the free tier needs an edge quota: anyone can sign up, so its usage plan must cap requests',
      });
    }
  });

export type TierlineConfig = z.infer<typeof configSchema>;
/** What authors write: the schema's input, before defaults and checks. */
export type TierlineConfigInput = z.input<typeof configSchema>;
