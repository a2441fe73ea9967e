import type {
  SpeechModelConfig,
  SpeechOffer,
  TierlineConfig,
  TierName,
} from '../../lib/config/schema';
import { BadRequestError, NotFoundError, PermissionDeniedError } from '../openai/errors';
import type { AudioTask } from './transcription-request';

export interface ResolvedSpeechModel {
  id: string;
  model: SpeechModelConfig;
  offer: SpeechOffer;
}

/**
 * A speech model for a caller on `tier`, as `resolveModel` answers for chat: 404 for no such
 * model (a chat model's id included: it cannot transcribe), 403 naming the tiers that offer it,
 * 400 for a translation on a model that only transcribes.
 */
export function resolveSpeechModel(
  config: TierlineConfig,
  tier: TierName,
  modelId: string,
  task: AudioTask,
): ResolvedSpeechModel {
  const model = Object.hasOwn(config.speechModels, modelId)
    ? config.speechModels[modelId]
    : undefined;
  if (!model) {
    const speechModels = Object.keys(config.tiers[tier].speechToText).join(', ') || 'none';
    throw new NotFoundError(
      `The model \`${modelId}\` does not exist or you do not have access to it. Speech-to-text models on your tier: ${speechModels}.`,
      { code: 'model_not_found', param: 'model' },
    );
  }
  const offers = config.tiers[tier].speechToText;
  const offer = Object.hasOwn(offers, modelId) ? offers[modelId] : undefined;
  if (!offer) {
    const tiers = Object.entries(config.tiers)
      .filter(([, t]) => Object.hasOwn(t.speechToText, modelId))
      .map(([name]) => name);
    throw new PermissionDeniedError(
      `The model \`${modelId}\` is not available on the ${tier} tier (available on: ${tiers.join(', ') || 'none'}). ` +
        'See GET /v1/plans for what each tier offers.',
      { code: 'model_not_available_on_tier' },
    );
  }
  if (task === 'translate' && !model.translates) {
    throw new BadRequestError(
      `The model \`${modelId}\` does not support translations; use a model that translates (for example whisper-large-v3).`,
      { param: 'model', code: 'model_not_supported' },
    );
  }
  return { id: modelId, model, offer };
}

/** Seconds a request is billed and counted: the file's duration rounded up, at least the model's minimum. */
export function billedSeconds(model: SpeechModelConfig, seconds: number): number {
  return Math.max(model.minimumBilledSeconds, Math.ceil(seconds));
}
