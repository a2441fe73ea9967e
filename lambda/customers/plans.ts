import type {
  EdgePool,
  EdgeSettings,
  ModelLimits,
  TierlineConfig,
  TierModelOffer,
} from '../../lib/config/schema';
import { TIER_NAMES, type TierName } from '../../lib/config/tier-names';
import type { ModelPlan, Plan, PlanList } from '../openai/shapes/plans';

/** An Enterprise customer's own usage plan: its edge throttle and per-model limits that replace the tier's. */
export interface CustomPlan {
  usagePlanId: string;
  edge: EdgeSettings;
  /** Per-model limits; a model not listed keeps its tier's limits. */
  models: Record<string, ModelLimits>;
}

/** A tier's model as published (`openai/shapes/plans.ts`). */
export type ModelPlanView = ModelPlan;
export type PlanView = Plan;

/** A fine-tune's price per 1M tokens: the base model's, plus the tier's LoRA premium. */
export function fineTunedPrice(usdPerMillion: number, premiumPercent: number): number {
  // Rounded to a millionth of a dollar per million tokens, so 0.05 * 1.25 is 0.0625 and not
  // 0.0625000001.
  return Math.round(usdPerMillion * (1 + premiumPercent / 100) * 1e6) / 1e6;
}

function modelView(
  config: TierlineConfig,
  tier: TierName,
  modelId: string,
  offer: TierModelOffer,
  limits: ModelLimits,
): ModelPlanView {
  const model = config.models[modelId];
  if (!model) throw new Error(`model ${modelId} is not in the catalog`); // the config schema rules this out
  const lora = config.tiers[tier].lora;
  const adapters = lora.allowed && model.architecture !== undefined;
  return {
    id: modelId,
    display_name: model.displayName,
    context_window: model.contextWindow,
    max_output_tokens: model.maxOutputTokens,
    limits: {
      requests_per_minute: limits.rpm,
      requests_per_day: limits.rpd,
      tokens_per_minute: limits.tpm,
      tokens_per_day: limits.tpd,
    },
    pricing: {
      input_usd_per_million_tokens: offer.inputUsdPerMillion,
      output_usd_per_million_tokens: offer.outputUsdPerMillion,
    },
    fine_tuned_pricing: adapters
      ? {
          input_usd_per_million_tokens: fineTunedPrice(
            offer.inputUsdPerMillion,
            lora.premiumPercent,
          ),
          output_usd_per_million_tokens: fineTunedPrice(
            offer.outputUsdPerMillion,
            lora.premiumPercent,
          ),
        }
      : null,
    trainable: adapters && model.trainingInstanceType !== undefined,
  };
}

function edgeView(edge: EdgeSettings): PlanView['edge'] {
  return {
    requests_per_second: edge.rateLimit,
    burst: edge.burstLimit,
    quota: edge.quota
      ? {
          limit: edge.quota.limit,
          period: edge.quota.period.toLowerCase() as 'day' | 'week' | 'month',
        }
      : null,
    shared: false,
  };
}

/** A pooled tier's edge: its pool key's throttle, which a group of accounts shares, and no quota. */
function pooledEdgeView(pool: EdgePool): PlanView['edge'] {
  return {
    requests_per_second: pool.rateLimit,
    burst: pool.burstLimit,
    quota: null,
    shared: true,
  };
}

/** The `completion_window` values a tier takes: `24h` and every whole day up to its maximum (`7d`). */
export function completionWindows(maxHours: number): string[] {
  const windows = ['24h'];
  for (let days = 2; days * 24 <= maxHours; days += 1) windows.push(`${days}d`);
  return windows;
}

/**
 * One tier as published, optionally with an Enterprise customer's custom plan applied. `pooled`:
 * the account meets the edge on one of the tier's shared keys (by default, what a new account of a
 * tier with a key pool gets); an account made before the pool keeps its own key and the tier's
 * `edge`.
 */
export function planView(
  config: TierlineConfig,
  tier: TierName,
  custom?: CustomPlan,
  pooled: boolean = !custom && Boolean(config.tiers[tier].edgePool),
): PlanView {
  const t = config.tiers[tier];
  const pool = pooled && !custom ? t.edgePool : undefined;
  return {
    object: 'plan',
    id: tier,
    display_name: t.displayName,
    description: t.description,
    models: Object.entries(t.models).map(([id, offer]) =>
      modelView(config, tier, id, offer, custom?.models[id] ?? offer),
    ),
    features: {
      batch: {
        available: t.batch.allowed,
        discount_percent: t.batch.discountPercent,
        completion_windows: completionWindows(t.batch.maxCompletionWindowHours),
        max_open_batches: t.batch.maxOpenBatches,
        max_lines_per_batch: t.batch.maxLinesPerBatch,
        max_enqueued_tokens_per_model: t.batch.maxEnqueuedTokensPerModel,
      },
      spend_limit: {
        available: t.spendLimit.allowed,
        default_monthly_usd: t.spendLimit.defaultMonthlyUsd ?? null,
        alert_thresholds_percent: t.spendLimit.alertThresholdsPercent,
      },
      lora_fine_tuning: {
        available: t.lora.allowed,
        premium_percent: t.lora.premiumPercent,
        training_usd_per_million_tokens: t.lora.trainingUsdPerMillionTokens,
        lora_ranks: config.fineTuning.lora.ranks,
        lora_alpha: config.fineTuning.lora.alpha,
        target_modules: config.fineTuning.lora.targetModules,
      },
      files: {
        storage_quota_bytes: t.storageQuotaBytes,
        max_file_bytes: config.files.maxFileBytes,
        max_parts_per_upload: config.files.maxPartsPerUpload,
      },
    },
    edge: pool ? pooledEdgeView(pool) : edgeView(custom?.edge ?? t.edge),
  };
}

/** Every tier's exact limits, prices and features, and how to upgrade: the body of `GET /v1/plans`. */
export function publicPlans(config: TierlineConfig): PlanList {
  return {
    object: 'list',
    data: TIER_NAMES.map((tier) => planView(config, tier)),
    upgrade: { text: config.console.upgrade.text, url: config.console.upgrade.url ?? null },
  };
}

export function isTierName(value: string): value is TierName {
  return (TIER_NAMES as readonly string[]).includes(value);
}
