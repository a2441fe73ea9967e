import type { ModelConfig, TierlineConfig, TierModelOffer } from '../../lib/config/schema';
import type { Principal } from '../customers/authenticate';
import { isInScope, type ProjectScope } from '../customers/project-ownership';
import { resolveModel } from '../inference/models';
import { BadRequestError, ServiceUnavailableError } from '../openai/errors';
import { fineTunedModelNotFound } from './adapters-service';
import { requireLora } from './lora-access';
import type { FineTunedModel, ModelsRepository } from './models-repository';

/** A fine-tuned model the caller may use now: its base model's config and offer, and where its adapter runs. */
export interface ResolvedFineTune {
  id: string;
  baseModel: string;
  model: ModelConfig;
  offer: TierModelOffer;
  /** The adapter component (SageMaker) / the adapter's name upstream. */
  adapterName: string;
  premiumPercent: number;
}

/**
 * How long a ready model's record is reused in one container. Safe because what is cached never
 * changes hands: a model id names its owner, and the record's owner and project are fixed at
 * creation (each request is checked against them, cached or not). A
 * deletion still takes effect: DELETE removes the adapter component first, so SageMaker refuses the
 * component from then on (and local mode invalidates this cache in-process); after at most this
 * long the record is read again and the model answers 404.
 */
export const READY_MODEL_CACHE_MS = 10_000;
const MAX_CACHED = 1_000;
const DEPLOYING_RETRY_AFTER_SECONDS = 30;

export interface ModelResolverOptions {
  config: TierlineConfig;
  models: Pick<ModelsRepository, 'get'>;
  /** Applies the component's status to a deploying model (SageMaker); absent: records are taken as they are. */
  refresh?: (model: FineTunedModel) => Promise<FineTunedModel>;
  nowMs?: () => number;
}

/**
 * Resolves an `ft:` model for the chat path with ONE GetItem (or none, within the cache time), and
 * checks the owner and project itself: the model servers fall back to the base model silently for
 * an adapter they do not know, so an id that is not the caller's project's must never reach a
 * backend. Unknown, another organization's and another project's answer the same 404.
 */
export class FineTunedModelResolver {
  private readonly cache = new Map<string, { model: FineTunedModel; until: number }>();
  private readonly nowMs: () => number;

  constructor(private readonly options: ModelResolverOptions) {
    this.nowMs = options.nowMs ?? Date.now;
  }

  /** Drops a model from this container's cache (its deletion in the same process). */
  forget(modelId: string): void {
    this.cache.delete(modelId);
  }

  private async record(modelId: string): Promise<FineTunedModel | undefined> {
    const cached = this.cache.get(modelId);
    if (cached && cached.until > this.nowMs()) return cached.model;
    this.cache.delete(modelId);
    let model = await this.options.models.get(modelId);
    if (model?.status === 'deploying' && this.options.refresh)
      model = await this.options.refresh(model);
    if (model?.status === 'ready') {
      if (this.cache.size >= MAX_CACHED)
        this.cache.delete(this.cache.keys().next().value as string);
      this.cache.set(modelId, { model, until: this.nowMs() + READY_MODEL_CACHE_MS });
    }
    return model;
  }

  async resolve(principal: Principal, modelId: string): Promise<ResolvedFineTune> {
    const { config } = this.options;
    const model = await this.record(modelId);
    // The record is read by its id, not in the caller's partition: its owner is checked here, then
    // its project (isInScope alone lets an item without a customerId through).
    if (
      !model ||
      model.customerId !== principal.customerId ||
      !isInScope(model, principal) ||
      model.status === 'deleting'
    ) {
      throw fineTunedModelNotFound(modelId);
    }
    requireLora(config, principal.tier);
    // The base model's limits and prices on the caller's tier (403 naming the tiers when it has
    // none).
    const base = resolveModel(config, principal.tier, model.baseModel);
    if (model.status === 'deploying') {
      throw new ServiceUnavailableError(
        `The model \`${modelId}\` is still being deployed on ${model.baseModel}; retry shortly ` +
          '(GET /v1/models/{id} lists it once it is ready).',
        DEPLOYING_RETRY_AFTER_SECONDS,
      );
    }
    if (model.status === 'failed') {
      throw new BadRequestError(
        `The model \`${modelId}\` failed to deploy and cannot serve: ${model.failureReason ?? 'no reason given'}. Delete it and register the adapter again.`,
        { param: 'model', code: 'model_failed' },
      );
    }
    return {
      id: modelId,
      baseModel: model.baseModel,
      model: base.model,
      offer: base.offer,
      adapterName: model.componentName,
      premiumPercent: config.tiers[principal.tier].lora.premiumPercent,
    };
  }
}

/**
 * The ready `ft:` models of a batch's project by id: one Query of the owner's index partition,
 * filtered to the project, so a batch line can name only its project's models (another customer's
 * or another project's id is simply not in the map, and answers as unknown).
 */
export function readyFineTunes(models: Pick<ModelsRepository, 'listByOwner'>) {
  return async (
    scope: ProjectScope,
  ): Promise<ReadonlyMap<string, { baseModel: string; adapterName: string }>> => {
    const owned = await models.listByOwner(scope);
    return new Map(
      owned
        .filter((m) => m.status === 'ready' && isInScope(m, scope))
        .map((m) => [m.modelId, { baseModel: m.baseModel, adapterName: m.componentName }]),
    );
  };
}
