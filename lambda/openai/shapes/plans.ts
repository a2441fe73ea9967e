import * as z from 'zod/mini';
import { count, usdNumber } from './common';

/**
 * The plans (`GET /v1/plans`, public) and the caller's account (`GET /v1/me`): every limit, price and
 * feature of a tier, published before anyone signs up.
 */

const tokenPrices = () =>
  z.object({
    input_usd_per_million_tokens: usdNumber(),
    output_usd_per_million_tokens: usdNumber(),
  });

export const modelPlanShape = z.object({
  id: z.string(),
  display_name: z.string(),
  context_window: count(),
  max_output_tokens: count(),
  limits: z.object({
    requests_per_minute: count(),
    requests_per_day: count(),
    tokens_per_minute: count(),
    tokens_per_day: count(),
  }),
  pricing: tokenPrices(),
  /** What this tier pays per token for a LoRA fine-tune of the model; null where it has none. */
  fine_tuned_pricing: z.nullable(tokenPrices()),
  /** Fine-tuning jobs train this model in this tier (uploaded adapters need only fine_tuned_pricing). */
  trainable: z.boolean(),
});
export type ModelPlan = z.output<typeof modelPlanShape>;

export const planShape = z.object({
  object: z.literal('plan'),
  id: z.string(),
  display_name: z.string(),
  description: z.string(),
  models: z.array(modelPlanShape),
  features: z.object({
    batch: z.object({
      available: z.boolean(),
      discount_percent: z.number(),
      completion_windows: z.array(z.string()),
      max_open_batches: count(),
      max_lines_per_batch: count(),
      max_enqueued_tokens_per_model: count(),
    }),
    spend_limit: z.object({
      available: z.boolean(),
      default_monthly_usd: z.nullable(z.number()),
      alert_thresholds_percent: z.array(z.number()),
    }),
    lora_fine_tuning: z.object({
      available: z.boolean(),
      premium_percent: z.number(),
      training_usd_per_million_tokens: usdNumber(),
      lora_ranks: z.array(count()),
      lora_alpha: z.object({ min: count(), max: count() }),
      target_modules: z.array(z.string()),
    }),
    /**
     * The customer's storage quota (all its files, and the input stored responses keep that their
     * model never saw) and the Files API's limits.
     */
    files: z.object({
      storage_quota_bytes: count(),
      max_file_bytes: count(),
      max_parts_per_upload: count(),
    }),
  }),
  edge: z.object({
    requests_per_second: z.number(),
    burst: count(),
    quota: z.nullable(z.object({ limit: count(), period: z.enum(['day', 'week', 'month']) })),
    /**
     * The throttle is shared by a group of accounts on this tier (the tier's pooled API Gateway
     * keys), not the account's own; each account's own limits are its models' `limits`.
     */
    shared: z.boolean(),
  }),
});
export type Plan = z.output<typeof planShape>;

export const planListShape = z.object({
  object: z.literal('list'),
  data: z.array(planShape),
  /** How to move to a higher tier, as the operator words it (the console shows it). */
  upgrade: z.object({ text: z.string(), url: z.nullable(z.string()) }),
});
export type PlanList = z.output<typeof planListShape>;

export const customerShape = z.object({
  object: z.literal('customer'),
  id: z.string().check(z.regex(/^cus_/)),
  name: z.string(),
  email: z.string(),
  tier: z.enum(['free', 'developer', 'enterprise']),
  created_at: count(),
  custom_plan: z.boolean(),
  plan: planShape,
});
export type Customer = z.output<typeof customerShape>;
