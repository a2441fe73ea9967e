import { Hono } from 'hono';
import { resolveSpeechModel } from '../../audio/speech-models';
import type { FineTunedModel } from '../../fine-tuning/models-repository';
import { modelsOfTier, resolveModel } from '../../inference/models';
import { BadRequestError, NotFoundError } from '../../openai/errors';
import type { OpenAIModel, OpenAIModelDeleted, OpenAIModelList } from '../../openai/shapes/models';
import type { ApiDependencies, AppEnv } from '../types';

/** A fine-tuned model as `/v1/models` shows it: owned by the customer, with its base model's windows. */
export function fineTunedModelView(deps: ApiDependencies, model: FineTunedModel): OpenAIModel {
  const base = deps.config.models[model.baseModel];
  return {
    id: model.modelId,
    object: 'model',
    created: model.createdAt,
    owned_by: model.customerId,
    active: model.status === 'ready',
    context_window: base?.contextWindow ?? 0,
    max_completion_tokens: base?.maxOutputTokens ?? 0,
  };
}

/**
 * `GET /models`, `GET /models/{id}`: the models of the caller's tier and the ready `ft:` models of
 * the caller's project (nobody else's: another project's answers as unknown); `DELETE
 * /models/{id}`: one of the project's fine-tuned models (OpenAI's delete).
 */
export function modelRoutes(deps: ApiDependencies): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.get('/models', async (c) => {
    const principal = c.get('principal');
    const own = deps.adapters ? await deps.adapters.list(principal) : [];
    return c.json<OpenAIModelList>({
      object: 'list',
      data: [
        ...modelsOfTier(deps.config, principal.tier, deps.modelOwner),
        ...own.filter((m) => m.status === 'ready').map((m) => fineTunedModelView(deps, m)),
      ],
    });
  });
  // Model ids contain dots and may contain slashes (fine-tunes): take the rest of the path.
  routes.get('/models/:id{.+}', async (c) => {
    const id = c.req.param('id');
    const principal = c.get('principal');
    const { tier } = principal;
    if (id.startsWith('ft:')) {
      if (!deps.adapters)
        throw new NotFoundError(
          `The model \`${id}\` does not exist or you do not have access to it.`,
          {
            code: 'model_not_found',
            param: 'model',
          },
        );
      return c.json(fineTunedModelView(deps, await deps.adapters.get(principal, id)));
    }
    // The same answer as a chat completion (or a transcription) with this model: 404 unknown, 403
    // naming the tier that has it.
    if (Object.hasOwn(deps.config.speechModels, id))
      resolveSpeechModel(deps.config, tier, id, 'transcribe');
    else resolveModel(deps.config, tier, id);
    const model = modelsOfTier(deps.config, tier, deps.modelOwner).find((m) => m.id === id);
    if (!model) throw new Error(`resolveModel accepted ${id}, which modelsOfTier does not list`);
    return c.json(model);
  });
  routes.delete('/models/:id{.+}', async (c) => {
    const id = c.req.param('id');
    if (!id.startsWith('ft:')) {
      // A catalog model is the operator's, shared by every customer: it is not the caller's to
      // delete.
      // 404 for a model that does not exist at all.
      if (!Object.hasOwn(deps.config.speechModels, id))
        resolveModel(deps.config, c.get('principal').tier, id);
      throw new BadRequestError(
        `The model \`${id}\` is a base model and cannot be deleted: only your own fine-tuned models (ft:...) can.`,
        { param: 'model', code: 'model_not_deletable' },
      );
    }
    if (!deps.adapters)
      throw new NotFoundError(
        `The model \`${id}\` does not exist or you do not have access to it.`,
        {
          code: 'model_not_found',
          param: 'model',
        },
      );
    const deleted = await deps.adapters.delete(c.get('principal'), id);
    deps.fineTunedModels?.forget(deleted.modelId);
    return c.json<OpenAIModelDeleted>({ id: deleted.modelId, object: 'model', deleted: true });
  });
  return routes;
}
