import { Hono } from 'hono';
import type { AdaptersService } from '../../fine-tuning/adapters-service';
import type { FineTunedModel } from '../../fine-tuning/models-repository';
import { BadRequestError, NotFoundError } from '../../openai/errors';
import type {
  FineTuning,
  FineTuningDeleted,
  FineTuningList,
} from '../../openai/shapes/fine-tuning';
import type { AppEnv } from '../types';

const ID_PREFIX = 'ftune_';

/**
 * Groq's fine-tuning object (`/v1/fine_tunings`): the registration wrapped in `data`, as Groq's
 * LoRA documentation shows it, with Tierline's `status` (deploying, ready, failed) added: an
 * adapter component takes minutes to come into service on SageMaker.
 */
export function fineTuningView(model: FineTunedModel): FineTuning {
  const id = `${ID_PREFIX}${model.modelKey}`;
  return {
    id,
    object: 'fine_tuning',
    data: {
      id,
      name: model.name,
      base_model: model.baseModel,
      type: 'lora',
      input_file_id: model.source.kind === 'file' ? model.source.fileId : null,
      fine_tuning_job_id: model.source.kind === 'job' ? model.source.jobId : null,
      created_at: model.createdAt,
      fine_tuned_model: model.modelId,
      status: model.status,
      failure_reason: model.failureReason ?? null,
    },
  };
}

function keyOf(id: string): string {
  if (!id.startsWith(ID_PREFIX) || !/^[A-Za-z0-9]{1,40}$/.test(id.slice(ID_PREFIX.length))) {
    throw new NotFoundError(`No such fine-tuning: ${id.slice(0, 100)}`, {
      code: 'fine_tuning_not_found',
      param: 'fine_tuning_id',
    });
  }
  return id.slice(ID_PREFIX.length);
}

async function jsonBody(c: { req: { text(): Promise<string> } }): Promise<unknown> {
  try {
    return JSON.parse(await c.req.text());
  } catch {
    throw new BadRequestError(
      'We could not parse the JSON body of your request. Send a JSON object with Content-Type: application/json.',
    );
  }
}

/**
 * `POST/GET /fine_tunings`, `GET/DELETE /fine_tunings/{id}`: Groq's bring-your-own LoRA adapter,
 * each of the caller's project (another project's answers as unknown).
 */
export function fineTuningRoutes(
  adapters: AdaptersService,
  /** Drops a deleted model from this process's chat cache (local mode, where both run in one process). */
  forget: (modelId: string) => void = () => undefined,
): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();

  routes.post('/fine_tunings', async (c) => {
    const model = await adapters.register(c.get('principal'), await jsonBody(c));
    return c.json(fineTuningView(model));
  });

  routes.get('/fine_tunings', async (c) => {
    const models = await adapters.list(c.get('principal'));
    return c.json<FineTuningList>({ object: 'list', data: models.map(fineTuningView) });
  });

  routes.get('/fine_tunings/:id', async (c) => {
    const model = await adapters.getByKey(c.get('principal'), keyOf(c.req.param('id')));
    return c.json(fineTuningView(model));
  });

  routes.delete('/fine_tunings/:id', async (c) => {
    const principal = c.get('principal');
    const model = await adapters.getByKey(principal, keyOf(c.req.param('id')));
    await adapters.delete(principal, model.modelId);
    forget(model.modelId);
    return c.json<FineTuningDeleted>({
      id: `${ID_PREFIX}${model.modelKey}`,
      object: 'fine_tuning',
      deleted: true,
    });
  });

  return routes;
}
