import * as z from 'zod/mini';
import { count, day, usdString } from './common';

/** `GET /v1/usage` (requests, tokens and cost per day or per model) and `/v1/spend_limit`. */

export const usageFieldsShape = z.object({
  requests: count(),
  input_tokens: count(),
  output_tokens: count(),
  /** Billed seconds of audio of speech-to-text models; present when there are some. */
  audio_seconds: z.optional(count()),
  cost_usd: usdString(),
});
export type UsageFields = z.output<typeof usageFieldsShape>;

export const modelUsageShape = z.extend(usageFieldsShape, {
  object: z.literal('usage.model'),
  model: z.string(),
});
export type ModelUsage = z.output<typeof modelUsageShape>;

/** `group_by=day`: one bucket per day with usage, its models inside. */
export const dayBucketShape = z.extend(usageFieldsShape, {
  object: z.literal('usage.bucket'),
  date: day(),
  models: z.array(modelUsageShape),
});
export type DayBucket = z.output<typeof dayBucketShape>;

/** `group_by=model`: one bucket per model over the whole range. */
export const modelBucketShape = z.extend(usageFieldsShape, {
  object: z.literal('usage.bucket'),
  model: z.string(),
  start_date: day(),
  end_date: day(),
});
export type ModelBucket = z.output<typeof modelBucketShape>;

export const usageListShape = z.object({
  object: z.literal('list'),
  group_by: z.enum(['day', 'model']),
  start_date: day(),
  end_date: day(),
  /** Days without usage have no bucket. */
  data: z.array(z.union([dayBucketShape, modelBucketShape])),
  total: usageFieldsShape,
});
/** A usage list whose buckets are all of one kind (`group_by` says which). */
export type UsageList<B extends DayBucket | ModelBucket = DayBucket | ModelBucket> = Omit<
  z.output<typeof usageListShape>,
  'data'
> & { data: B[] };

export const spendLimitShape = z.object({
  object: z.literal('spend_limit'),
  available: z.boolean(),
  month: z.string().check(z.regex(/^\d{4}-\d{2}$/)),
  monthly_limit_usd: z.nullable(z.number().check(z.minimum(0))),
  spent_usd: usdString(),
  reserved_usd: usdString(),
  alert_thresholds_percent: z.array(z.number()),
});
export type SpendLimit = z.output<typeof spendLimitShape>;
