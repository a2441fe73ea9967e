import { createHash } from 'node:crypto';
import { DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  CreateInferenceComponentCommand,
  DeleteInferenceComponentCommand,
  DescribeInferenceComponentCommand,
  type SageMakerClient,
} from '@aws-sdk/client-sagemaker';
import * as z from 'zod/mini';
import type { TierlineConfig } from '../../lib/config/schema';
import type { Principal } from '../customers/authenticate';
import {
  type ObjectScope,
  type ProjectScope,
  projectToRecord,
} from '../customers/project-ownership';
import { S3FileStorage } from '../files/file-storage';
import type { FilesService } from '../files/files-service';
import { isWellFormedId } from '../files/ids';
import { endpointName, inferenceComponentName } from '../inference/backends/sagemaker-names';
import { resolveModel } from '../inference/models';
import { BadRequestError, HttpError, NotFoundError } from '../openai/errors';
import { bodySchema, field } from '../openai/request-body';
import { ownValue } from '../own';
import { readAdapterArchive } from './adapter-archive';
import { checkAdapter } from './adapter-checks';
import { repackageAdapter } from './adapter-repackage';
import { bucketLayout } from './fine-tuning-table';
import { requireLora } from './lora-access';
import type { FineTunedModel, ModelsRepository } from './models-repository';
import { s3ArchiveSource } from './s3-archive-source';
import { adapterComponentName } from './sagemaker-names';

/** Groq's register request: `POST /v1/fine_tunings`. */
export interface RegisterAdapterRequest {
  input_file_id: string;
  name: string;
  type: 'lora';
  base_model: string;
}

export interface AdaptersServiceOptions {
  config: TierlineConfig;
  models: ModelsRepository;
  files: Pick<FilesService, 'get'>;
  /** Reads uploaded files (the files bucket) and writes repackaged adapters (`adapterBucket`). */
  s3: S3Client;
  filesBucket: string;
  /** The fine-tuning bucket in AWS; local mode keeps adapters beside the files in its one embedded bucket. */
  adapterBucket: string;
  /**
   * Creates, describes and deletes adapter components. Absent in local mode: there is no SageMaker,
   * so a registered adapter is ready at once and served by the local backend.
   */
  sagemaker?: SageMakerClient;
  now?: () => Date;
}

const NAME = /^[A-Za-z0-9._-]{1,64}$/;

/** A 404 that says the same for a model that never existed and for another customer's or project's. */
export function fineTunedModelNotFound(modelId: string, param = 'model'): NotFoundError {
  return new NotFoundError(
    `The model \`${modelId}\` does not exist or you do not have access to it.`,
    {
      code: 'model_not_found',
      param,
    },
  );
}

/** A required string: "Missing required parameter" when absent or empty, "Invalid type" when not a string. */
const requiredString = (name: string) =>
  field(
    z.string().check(z.minLength(1)),
    (value) =>
      value === undefined || value === null || value === ''
        ? `Missing required parameter: '${name}'.`
        : `Invalid type for '${name}': expected a string.`,
    (value) =>
      value === undefined || value === null || value === ''
        ? 'missing_required_parameter'
        : 'invalid_type',
  );

/**
 * Groq's registration body: unknown fields refused first, then each field present and a string,
 * then the adapter type, then the name's characters (which become part of the model id).
 */
const REGISTER_BODY = bodySchema({
  input_file_id: requiredString('input_file_id'),
  name: requiredString('name'),
  base_model: requiredString('base_model'),
  type: field(
    z.optional(z.literal('lora')),
    (type) => `Invalid 'type' ${JSON.stringify(type)}: only "lora" adapters are served.`,
    'invalid_value',
  ),
});

const REGISTER_NAME = bodySchema(
  {
    name: field(
      z.string().check(z.regex(NAME)),
      "'name' must be 1 to 64 letters, digits, '.', '_' or '-' (it becomes part of the model id).",
      'invalid_value',
    ),
  },
  { unknownField: 'ignore' },
);

function parseRegisterRequest(body: unknown): RegisterAdapterRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new BadRequestError('The request body must be a JSON object.');
  }
  const fields = REGISTER_BODY.check(body as Record<string, unknown>);
  REGISTER_NAME.check(fields);
  return {
    input_file_id: fields.input_file_id,
    name: fields.name,
    type: 'lora',
    base_model: fields.base_model,
  };
}

/** A registration's short id: the file's random part and a hash of what it was registered as (same request, same id). */
function modelKeyFor(fileId: string, request: RegisterAdapterRequest): string {
  const hash = createHash('sha256')
    .update(`${request.base_model}\n${request.name}`)
    .digest('hex')
    .slice(0, 6);
  return `${fileId.replace(/^file-/, '').slice(-16)}${hash}`;
}

/** Re-answers a failure about `from` as one about `to` (resolveModel names `model`; here it is `base_model`). */
function renamed(error: unknown, to: string): unknown {
  if (!(error instanceof HttpError)) return error;
  return new HttpError(error.status, error.type, error.message, {
    code: error.code,
    param: to,
    headers: error.headers,
  });
}

/** How long to wait before registering again a model whose old adapter component is still being deleted. */
const REDEPLOY_RETRY_AFTER_SECONDS = 30;

function isAlreadyExists(error: unknown): boolean {
  return (
    (error as Error).name === 'ValidationException' &&
    /already exist/i.test((error as Error).message)
  );
}
function isGone(error: unknown): boolean {
  return (
    (error as Error).name === 'ValidationException' &&
    /not found|could not find|does not exist/i.test((error as Error).message)
  );
}

/**
 * Applies the adapter component's status to a deploying model: InService makes it ready, Failed
 * failed. Called on reads (GET, list, a chat with it), so a model becomes ready without any loop
 * waiting in a Lambda. Without SageMaker (local mode) records are taken as they are.
 */
export async function refreshModel(
  model: FineTunedModel,
  deps: { models: Pick<ModelsRepository, 'transition'>; sagemaker?: SageMakerClient },
): Promise<FineTunedModel> {
  const { sagemaker } = deps;
  if (model.status !== 'deploying' || !sagemaker) return model;
  let status: string | undefined;
  let reason: string | undefined;
  try {
    const described = await sagemaker.send(
      new DescribeInferenceComponentCommand({ InferenceComponentName: model.componentName }),
    );
    status = described.InferenceComponentStatus;
    reason = described.FailureReason;
  } catch (error) {
    if (!isGone(error)) throw error;
    // Registered, but its component was never created (a crash in between): still deploying; the
    // retried registration creates it (trained models get theirs from the workflow).
    return model;
  }
  if (status === 'InService') {
    await deps.models.transition(model.modelId, ['deploying'], 'ready');
    return { ...model, status: 'ready' };
  }
  if (status === 'Failed') {
    const failureReason = reason ?? 'The adapter component failed to start.';
    await deps.models.transition(model.modelId, ['deploying'], 'failed', { failureReason });
    return { ...model, status: 'failed', failureReason };
  }
  return model;
}

/**
 * Groq's bring-your-own-adapter, and the lifecycle of every fine-tuned model (uploaded or trained):
 * register (check, repackage, create the adapter component), read (the component's status applied
 * lazily: no loop waits for it), delete (component, artifact, record). Every model belongs to one
 * customer and one of its projects (the registering key's, or the training job's); another
 * customer's or project's id answers 404 like one that never existed.
 */
export class AdaptersService {
  constructor(private readonly options: AdaptersServiceOptions) {}

  private nowSeconds(): number {
    return Math.floor((this.options.now?.() ?? new Date()).getTime() / 1000);
  }

  private get env(): string {
    return this.options.config.environment.name;
  }

  async register(principal: Principal, body: unknown): Promise<FineTunedModel> {
    const { config, models, files } = this.options;
    requireLora(config, principal.tier);
    const request = parseRegisterRequest(body);
    try {
      resolveModel(config, principal.tier, request.base_model);
    } catch (error) {
      throw renamed(error, 'base_model');
    }
    if (!ownValue(config.models, request.base_model)?.architecture) {
      throw new BadRequestError(
        `The base model \`${request.base_model}\` does not take LoRA adapters (see GET /v1/plans).`,
        { param: 'base_model', code: 'invalid_value' },
      );
    }
    if (!isWellFormedId('file-', request.input_file_id)) {
      throw new NotFoundError(`No such File object: ${request.input_file_id}`, {
        code: 'file_not_found',
        param: 'input_file_id',
      });
    }
    const file = await files.get(principal, request.input_file_id).catch((error: unknown) => {
      throw renamed(error, 'input_file_id');
    });
    if (file.purpose !== 'fine-tune') {
      throw new BadRequestError(
        `File ${file.fileId} has purpose '${file.purpose}': upload the adapter with purpose 'fine-tune' (or 'fine_tuning').`,
        { param: 'input_file_id', code: 'invalid_file_purpose' },
      );
    }
    const modelKey = modelKeyFor(file.fileId, request);
    const modelId = `ft:${request.base_model}:${principal.customerId}:${request.name}:${modelKey}`;
    const existing = await models.get(modelId);
    if (existing?.status === 'deleting') {
      // A DELETE of this very registration crashed part-way (the record marked, the rest left):
      // never answer that dead model. Finish the delete, then register afresh below, once its old
      // component is gone.
      await this.delete(principal, modelId).catch((error: unknown) => {
        if (!(error instanceof NotFoundError)) throw error; // a twin registration (or DELETE) finished it first
      });
      await this.requireComponentGone(existing);
    } else if (existing && existing.status !== 'deploying') {
      // The same registration again (a retry after a lost answer or a crash): answer it, finishing
      // what is left.
      return existing;
    }

    // Checked before anything is written or deployed: the model servers only fail on first use
    // otherwise.
    const source = await s3ArchiveSource(this.options.s3, this.options.filesBucket, file.objectKey);
    // An uploaded adapter's weights are at most twice a file's size (issue 20 row 3: a 1 MB zip of
    // valid tensors and zeros unpacked to 1 GiB). Trained bf16/fp32 weights hardly compress, so
    // twice the largest upload leaves room for any real one; a trained adapter (workflow-tasks.ts)
    // has only the architectural cap.
    const archive = await readAdapterArchive(source, {
      maxWeightsBytes: 2 * config.files.maxFileBytes,
    });
    const checked = checkAdapter(archive, request.base_model, config);

    const artifactKey = bucketLayout.uploadedAdapter(modelKey);
    const componentName = adapterComponentName(this.env, modelKey);
    const { model } = await models.create({
      modelId,
      modelKey,
      customerId: principal.customerId,
      ...projectToRecord(principal),
      baseModel: request.base_model,
      componentName,
      artifactUrl: `s3://${this.options.adapterBucket}/${artifactKey}`,
      source: { kind: 'file', fileId: file.fileId },
      name: request.name,
      status: 'deploying',
      createdAt: this.nowSeconds(),
      rank: checked.rank,
    });
    await new S3FileStorage(this.options.s3, this.options.adapterBucket).compose(
      artifactKey,
      repackageAdapter(
        await s3ArchiveSource(this.options.s3, this.options.filesBucket, file.objectKey),
        archive.format,
      ),
    );
    if (!this.options.sagemaker) {
      // Local mode: no SageMaker to wait for; the local backend serves the adapter by name from now
      // on.
      await models.transition(modelId, ['deploying'], 'ready');
      return { ...model, status: 'ready' };
    }
    await this.createComponent(model, principal.customerId);
    return model;
  }

  /**
   * SageMaker deletes an inference component in the background, and a new one cannot take its name
   * meanwhile: a 409 the clients retry (with Retry-After) until the old one is gone. Local mode has
   * no components.
   */
  private async requireComponentGone(model: FineTunedModel): Promise<void> {
    if (!this.options.sagemaker) return;
    try {
      await this.options.sagemaker.send(
        new DescribeInferenceComponentCommand({ InferenceComponentName: model.componentName }),
      );
    } catch (error) {
      if (isGone(error)) return;
      throw error;
    }
    throw new HttpError(
      409,
      'invalid_request_error',
      `The model \`${model.modelId}\` was being deleted; its adapter component is still shutting down. ` +
        'Retry the registration in a minute.',
      {
        code: 'model_being_deleted',
        headers: { 'retry-after': String(REDEPLOY_RETRY_AFTER_SECONDS) },
      },
    );
  }

  private async createComponent(model: FineTunedModel, customerId: string): Promise<void> {
    try {
      await this.options.sagemaker?.send(
        new CreateInferenceComponentCommand({
          InferenceComponentName: model.componentName,
          EndpointName: endpointName(this.env, model.baseModel),
          Specification: {
            BaseInferenceComponentName: inferenceComponentName(this.env, model.baseModel),
            Container: { ArtifactUrl: model.artifactUrl },
          },
          Tags: [
            { Key: 'tierline:customer', Value: customerId },
            { Key: 'tierline:model', Value: model.modelKey },
          ],
        }),
      );
    } catch (error) {
      if (!isAlreadyExists(error)) throw error; // a retry: the component is there
    }
  }

  /** Applies the component's status to a deploying model (see {@link refreshModel}). */
  refresh(model: FineTunedModel): Promise<FineTunedModel> {
    return refreshModel(model, this.options);
  }

  /** The model of the caller's project (refreshed), or 404. */
  async get(scope: ProjectScope, modelId: string, param = 'model'): Promise<FineTunedModel> {
    const model = modelId.startsWith('ft:')
      ? await this.options.models.getOwned(scope, modelId)
      : undefined;
    if (!model || model.status === 'deleting') throw fineTunedModelNotFound(modelId, param);
    return this.refresh(model);
  }

  /**
   * Which of `modelIds` (`ft:` ids) are visible in `scope`, by their records alone (one GetItem
   * each, no refresh): a deleted model has no record, so no project to show it to.
   */
  async visible(scope: ProjectScope, modelIds: readonly string[]): Promise<Set<string>> {
    const seen = await Promise.all(
      modelIds.map(async (id) =>
        id.startsWith('ft:') && (await this.options.models.getOwned(scope, id)) ? id : undefined,
      ),
    );
    return new Set(seen.filter((id): id is string => id !== undefined));
  }

  /** The model of the caller's project whose short id is `modelKey` (a fine-tuning object's id), or 404. */
  async getByKey(scope: ProjectScope, modelKey: string): Promise<FineTunedModel> {
    const model = (await this.list(scope)).find((m) => m.modelKey === modelKey);
    if (!model) {
      throw new NotFoundError(`No such fine-tuning: ftune_${modelKey}`, {
        code: 'fine_tuning_not_found',
        param: 'fine_tuning_id',
      });
    }
    return model;
  }

  /**
   * The models of the caller's project, newest first, refreshed; deleting ones are gone already for
   * the customer.
   */
  async list(scope: ProjectScope): Promise<FineTunedModel[]> {
    const models = await this.options.models.listByOwner(scope);
    return Promise.all(models.filter((m) => m.status !== 'deleting').map((m) => this.refresh(m)));
  }

  /**
   * Deletes a model of the caller's project (`scope`; the whole organization's for the operator):
   * first marked deleting (it is no longer served or listed from then on), then its component and
   * (uploaded ones) its artifact, then the record. A crash part-way leaves a deleting record that a
   * retried DELETE finishes.
   */
  async delete(scope: ObjectScope, modelId: string): Promise<FineTunedModel> {
    const model = modelId.startsWith('ft:')
      ? await this.options.models.getOwned(scope, modelId)
      : undefined;
    if (!model) throw fineTunedModelNotFound(modelId);
    await this.options.models.transition(
      modelId,
      ['deploying', 'ready', 'failed', 'deleting'],
      'deleting',
    );
    if (this.options.sagemaker) {
      try {
        await this.options.sagemaker.send(
          new DeleteInferenceComponentCommand({ InferenceComponentName: model.componentName }),
        );
      } catch (error) {
        if (!isGone(error)) throw error;
      }
    }
    if (model.source.kind === 'file') {
      await this.options.s3.send(
        new DeleteObjectCommand({
          Bucket: this.options.adapterBucket,
          Key: bucketLayout.uploadedAdapter(model.modelKey),
        }),
      );
    }
    await this.options.models.delete(scope, modelId);
    return model;
  }
}
