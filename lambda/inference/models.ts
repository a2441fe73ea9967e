import type { ModelConfig, TierlineConfig, TierModelOffer } from '../../lib/config/schema';
import type { TierName } from '../../lib/config/tier-names';
import { BadRequestError, NotFoundError, PermissionDeniedError } from '../openai/errors';
import type { OpenAIModel } from '../openai/shapes/models';

export interface ResolvedModel {
  id: string;
  model: ModelConfig;
  offer: TierModelOffer;
}

/**
 * Finds `modelId` for a caller on `tier`: 404 when no such model exists, 403 naming the tiers that
 * have it when the caller's tier lacks it; `GET /v1/models/{id}` and chat completions answer alike.
 * Only the catalog's own keys count: `constructor` or `__proto__` are names of no model (404), not
 * object internals.
 */
export function resolveModel(
  config: TierlineConfig,
  tier: TierName,
  modelId: string,
): ResolvedModel {
  const model = Object.hasOwn(config.models, modelId) ? config.models[modelId] : undefined;
  if (!model && Object.hasOwn(config.speechModels, modelId)) {
    throw new BadRequestError(
      `The model \`${modelId}\` is a speech-to-text model: send audio to POST /v1/audio/transcriptions (or /translations).`,
      { code: 'model_not_supported', param: 'model' },
    );
  }
  if (!model) {
    throw new NotFoundError(
      `The model \`${modelId}\` does not exist or you do not have access to it.`,
      {
        code: 'model_not_found',
        param: 'model',
      },
    );
  }
  const offered = config.tiers[tier].models;
  const offer = Object.hasOwn(offered, modelId) ? offered[modelId] : undefined;
  if (!offer) {
    const tiers = Object.entries(config.tiers)
      .filter(([, t]) => Object.hasOwn(t.models, modelId))
      .map(([name]) => name);
    throw new PermissionDeniedError(
      `The model \`${modelId}\` is not available on the ${tier} tier (available on: ${tiers.join(', ')}). ` +
        'See GET /v1/plans for what each tier offers.',
      { code: 'model_not_available_on_tier' },
    );
  }
  return { id: modelId, model, offer };
}

/** Whisper's decoder window (`max_target_positions`): what Groq lists as its context and output. */
const WHISPER_TOKENS = 448;

/** The models a tier may call, as `/v1/models` lists them: chat models, then speech-to-text models. */
export function modelsOfTier(
  config: TierlineConfig,
  tier: TierName,
  ownedBy?: (modelId: string) => string,
): OpenAIModel[] {
  return [...chatModelsOfTier(config, tier, ownedBy), ...speechModelsOfTier(config, tier, ownedBy)];
}

function speechModelsOfTier(
  config: TierlineConfig,
  tier: TierName,
  ownedBy?: (modelId: string) => string,
): OpenAIModel[] {
  return Object.keys(config.tiers[tier].speechToText).map((id) => ({
    id,
    object: 'model',
    created: 1_735_689_600,
    owned_by: ownedBy?.(id) ?? config.speechModels[id]?.ownedBy ?? 'unknown',
    active: true,
    context_window: WHISPER_TOKENS,
    max_completion_tokens: WHISPER_TOKENS,
  }));
}

function chatModelsOfTier(
  config: TierlineConfig,
  tier: TierName,
  ownedBy?: (modelId: string) => string,
): OpenAIModel[] {
  return Object.keys(config.tiers[tier].models).map((id) => {
    const model = config.models[id] as ModelConfig;
    return {
      id,
      object: 'model',
      // Catalog models have no release date of their own here; a fixed epoch keeps responses
      // stable.
      created: 1_735_689_600,
      owned_by: ownedBy?.(id) ?? model.ownedBy,
      active: true,
      context_window: model.contextWindow,
      max_completion_tokens: model.maxOutputTokens,
      // When the model stops being served (an ISO date, as its deprecation notice gives it), if it
      // has one.
      ...(model.shutdownDate ? { shutdown_date: model.shutdownDate } : {}),
    };
  });
}
