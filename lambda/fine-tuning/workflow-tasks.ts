import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import {
  CreateInferenceComponentCommand,
  DeleteInferenceComponentCommand,
  DescribeInferenceComponentCommand,
  type SageMakerClient,
} from '@aws-sdk/client-sagemaker';
import type { TierlineConfig } from '../../lib/config/schema';
import { endpointName, inferenceComponentName } from '../inference/backends/sagemaker-names';
import { readAdapterArchive } from './adapter-archive';
import { checkAdapter } from './adapter-checks';
import { bucketLayout } from './fine-tuning-table';
import type { JobBilling } from './job-billing';
import { ACTIVE_STATUSES, fineTunedModelId, type JobRecord, modelKeyOf } from './jobs';
import type { JobsRepository } from './jobs-repository';
import type { FineTunedModel, ModelsRepository } from './models-repository';
import { parseS3Uri, s3ArchiveSource } from './s3-archive-source';
import { adapterComponentName, trainingJobName } from './sagemaker-names';
import { trainingSequenceCap } from './training-file';

/**
 * The steps of the fine-tuning state machine that need code (Step Functions itself runs the
 * training job, waits and retries). Each is idempotent: Step Functions retries a task whose Lambda
 * failed, and a task may run again after a partial success.
 */

export interface WorkflowDeps {
  jobs: JobsRepository;
  /** The fine-tuned model registry: what chat completions and `/v1/models` serve from. */
  models: ModelsRepository;
  s3: S3Client;
  sagemaker: SageMakerClient;
  config: TierlineConfig;
  bucket: string;
  /** Bills a succeeded job's training, releases a failed one's reservation (`job-billing.ts`); idempotent. */
  billing?: Pick<JobBilling, 'settle'>;
  now?: () => Date;
}

/** A failure the job should show as its error (the state machine's Catch passes it to `fail`). */
export class JobFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'JobFailure';
  }
}

const seconds = (deps: WorkflowDeps) => Math.floor((deps.now?.() ?? new Date()).getTime() / 1000);

/** The registry's record of a trained job's model (its id and names derive from the job, so every retry agrees). */
function trainedModel(
  job: JobRecord,
  env: string,
  artifactUrl: string,
  status: FineTunedModel['status'],
  createdAt: number,
): FineTunedModel {
  const modelKey = modelKeyOf(job.jobId);
  return {
    modelId: fineTunedModelId(job),
    modelKey,
    customerId: job.customerId,
    // The job's project owns its model (as OpenAI's); a job made before jobs recorded one is the
    // default project's, and so is its model.
    ...(job.projectId === undefined ? {} : { projectId: job.projectId }),
    baseModel: job.model,
    componentName: adapterComponentName(env, modelKey),
    artifactUrl,
    source: { kind: 'job', jobId: job.jobId },
    name: job.suffix ?? '',
    status,
    createdAt,
    rank: job.lora.rank,
  };
}

/** What the training step of the state machine is given (the fixed parts are in its definition). */
export interface TrainingInput {
  trainingJobName: string;
  instanceType: string;
  hyperparameters: Record<string, string>;
  modelUri: string;
  trainingUri: string;
  validationUri: string | null;
  outputUri: string;
  checkpointUri: string;
}

/** Checks that the job may still run and that the base weights are in S3, and prepares the training input. */
export async function prepare(
  input: { jobId: string },
  deps: WorkflowDeps,
): Promise<TrainingInput> {
  const job = await deps.jobs.get(input.jobId);
  if (!job) throw new JobFailure('job_not_found', `job ${input.jobId} does not exist`);
  if (!ACTIVE_STATUSES.includes(job.status))
    throw new JobFailure('job_not_active', `the job is ${job.status}`);
  const model = deps.config.models[job.model];
  if (!model?.trainingInstanceType) {
    throw new JobFailure('model_not_trainable', `${job.model} cannot be fine-tuned here`);
  }
  // Network isolation: the job reads the base weights from S3, never from Hugging Face.
  const weights = model.weights.startsWith('s3://')
    ? model.weights.replace(/\/?$/, '/')
    : `s3://${deps.bucket}/${bucketLayout.baseWeightsPrefix(job.model)}`;
  const location = parseS3Uri(weights);
  const listed = location
    ? await deps.s3.send(
        new ListObjectsV2Command({ Bucket: location.bucket, Prefix: location.key, MaxKeys: 1 }),
      )
    : undefined;
  if (!listed?.KeyCount) {
    throw new JobFailure(
      'base_weights_missing',
      `The weights of ${job.model} are not in ${weights}: an operator copies them there once ` +
        `(for example: huggingface-cli download ${model.weights} --local-dir w && aws s3 sync w ${weights}).`,
    );
  }
  await deps.jobs.transition(job.jobId, ['validating_files'], 'queued');
  await deps.jobs.addEvent(job.jobId, {
    id: 'ftevent-queued',
    createdAt: seconds(deps),
    level: 'info',
    message: 'Files validated; the training job is queued',
  });
  const s3 = (key: string) => `s3://${deps.bucket}/${key}`;
  return {
    trainingJobName: trainingJobName(deps.config.environment.name, job.jobId),
    instanceType: model.trainingInstanceType,
    hyperparameters: {
      base_model: job.model,
      n_epochs: String(job.hyperparameters.nEpochs),
      batch_size: String(job.hyperparameters.batchSize),
      learning_rate_multiplier: String(job.hyperparameters.learningRateMultiplier),
      lora_rank: String(job.lora.rank),
      lora_alpha: String(job.lora.alpha),
      target_modules: job.lora.targetModules.join(','),
      // The cap the API checked every line against (not the model's whole context: activation
      // memory grows with it); micro-batches of at most micro_batch_tokens padded tokens reach
      // batch_size by gradient accumulation.
      max_seq_length: String(trainingSequenceCap(deps.config.fineTuning, model)),
      micro_batch_tokens: String(deps.config.fineTuning.training.microBatchTokens),
      seed: String(job.seed),
    },
    modelUri: weights,
    trainingUri: s3(bucketLayout.trainingInput(job.jobId).replace(/[^/]+$/, '')),
    validationUri: job.validationFile
      ? s3(bucketLayout.validationInput(job.jobId).replace(/[^/]+$/, ''))
      : null,
    outputUri: s3(bucketLayout.outputPrefix(job.jobId)),
    checkpointUri: s3(bucketLayout.checkpointPrefix(job.jobId)),
  };
}

function isAlreadyExists(error: unknown): boolean {
  return (
    (error as Error).name === 'ValidationException' &&
    /already exist/i.test((error as Error).message)
  );
}

/** The script's archive (training/lora/tierline_lora/adapter_archive.py ARCHIVE_NAME). */
const ADAPTER_ARCHIVE = 'adapter.tar.gz';

/**
 * Where the training job put the script's adapter.tar.gz. Not derived from
 * ModelArtifacts.S3ModelArtifacts: AWS documents it as "the path of the S3 object that contains the
 * model artifacts" (for example `.../model.tar.gz`) and says nothing of its form when
 * OutputDataConfig.CompressionType is NONE ("Uncompressed model output" only says the files are
 * uploaded as they are). What is documented is that the job writes under S3OutputPath, named after
 * the training job: the archive is looked for there, in this job's output only.
 */
async function locateAdapter(
  jobId: string,
  modelArtifacts: string,
  deps: WorkflowDeps,
): Promise<string> {
  const prefix = `${bucketLayout.outputPrefix(jobId)}${trainingJobName(deps.config.environment.name, jobId)}/`;
  const found: string[] = [];
  let token: string | undefined;
  do {
    const page = await deps.s3.send(
      new ListObjectsV2Command({ Bucket: deps.bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const object of page.Contents ?? []) {
      if (
        object.Key &&
        (object.Key === `${prefix}${ADAPTER_ARCHIVE}` || object.Key.endsWith(`/${ADAPTER_ARCHIVE}`))
      ) {
        found.push(object.Key);
      }
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  if (found.length !== 1) {
    throw new JobFailure(
      'adapter_missing',
      `The training job's output (s3://${deps.bucket}/${prefix}, model artifacts ${modelArtifacts || 'none'}) ` +
        `holds ${found.length === 0 ? 'no' : `${found.length}`} ${ADAPTER_ARCHIVE}: the adapter cannot be deployed.`,
    );
  }
  return `s3://${deps.bucket}/${found[0]}`;
}

/**
 * Checks the trained adapter like an uploaded one, then creates its inference component on the base
 * model's component. A retry after the component was created finds it and goes on.
 */
export async function deploy(
  input: { jobId: string; modelArtifacts: string; trainedTokens?: number },
  deps: WorkflowDeps,
): Promise<{ componentName: string; artifactUrl: string }> {
  const job = await deps.jobs.get(input.jobId);
  if (!job) throw new JobFailure('job_not_found', `job ${input.jobId} does not exist`);
  const artifactUrl = await locateAdapter(job.jobId, input.modelArtifacts, deps);
  const location = parseS3Uri(artifactUrl);
  if (!location) throw new JobFailure('adapter_missing', `no adapter at ${artifactUrl}`);
  const archive = await readAdapterArchive(
    await s3ArchiveSource(deps.s3, location.bucket, location.key),
  );
  checkAdapter(archive, job.model, deps.config);
  const env = deps.config.environment.name;
  const componentName = adapterComponentName(env, modelKeyOf(job.jobId));
  await deps.jobs.update(job.jobId, {
    adapterComponent: componentName,
    trainedTokens: input.trainedTokens,
  });
  // Recorded before the component is created, so a crash in between leaves a record that names it
  // (and its cleanup). Not listed in /v1/models, nor served, until it is ready.
  await deps.models.create(trainedModel(job, env, artifactUrl, 'deploying', seconds(deps)));
  try {
    await deps.sagemaker.send(
      new CreateInferenceComponentCommand({
        InferenceComponentName: componentName,
        EndpointName: endpointName(env, job.model),
        Specification: {
          BaseInferenceComponentName: inferenceComponentName(env, job.model),
          Container: { ArtifactUrl: artifactUrl },
        },
        Tags: [
          { Key: 'tierline:customer', Value: job.customerId },
          { Key: 'tierline:job', Value: job.jobId },
        ],
      }),
    );
  } catch (error) {
    if (!isAlreadyExists(error)) throw error;
  }
  await deps.jobs.addEvent(job.jobId, {
    id: 'ftevent-deploying',
    createdAt: seconds(deps),
    level: 'info',
    message: `Adapter checked; deploying it on ${job.model}`,
  });
  return { componentName, artifactUrl };
}

/** The adapter component's status, for the state machine's wait loop. */
export async function checkInService(
  input: { componentName: string },
  deps: WorkflowDeps,
): Promise<{ status: string; failureReason: string | null }> {
  const described = await deps.sagemaker.send(
    new DescribeInferenceComponentCommand({ InferenceComponentName: input.componentName }),
  );
  return {
    status: described.InferenceComponentStatus ?? 'Unknown',
    failureReason: described.FailureReason ?? null,
  };
}

/** The adapter is in service: the job succeeds with its `ft:` model (unless it was cancelled meanwhile). */
export async function succeed(
  input: { jobId: string },
  deps: WorkflowDeps,
): Promise<{ fineTunedModel: string | null }> {
  const job = await deps.jobs.get(input.jobId);
  if (!job) throw new JobFailure('job_not_found', `job ${input.jobId} does not exist`);
  const fineTunedModel = fineTunedModelId(job);
  // The model record first: once the job says succeeded, its model must answer. Idempotent: created
  // once, moved to ready once; a record deploy never wrote (an older execution) is written here.
  if (ACTIVE_STATUSES.includes(job.status)) {
    // Deploy wrote the record with the artifact's URL; this one (without it) is written only if it
    // did not.
    const { model } = await deps.models.create(
      trainedModel(job, deps.config.environment.name, '', 'ready', seconds(deps)),
    );
    if (model.status === 'deploying')
      await deps.models.transition(model.modelId, ['deploying'], 'ready');
  }
  const done = await deps.jobs.transition(job.jobId, ACTIVE_STATUSES, 'succeeded', {
    fineTunedModel,
    finishedAt: seconds(deps),
    trainedTokens: job.trainedTokens ?? job.estimatedTrainedTokens,
  });
  // Settled whether this call or an earlier try moved the job: a retry finishes a settlement a
  // crash cut.
  await deps.billing?.settle(job.jobId);
  if (!done) return { fineTunedModel: (await deps.jobs.get(job.jobId))?.fineTunedModel ?? null };
  await deps.jobs.addEvent(job.jobId, {
    id: 'ftevent-succeeded',
    createdAt: seconds(deps),
    level: 'info',
    message: `The job has successfully completed: ${fineTunedModel} is ready`,
  });
  return { fineTunedModel };
}

/** A step failed: the job fails with the reason, and an adapter component it created is removed. */
export async function fail(
  input: { jobId: string; error?: string; cause?: string; componentName?: string },
  deps: WorkflowDeps,
): Promise<{ status: string }> {
  const message = failureMessage(input.error, input.cause);
  if (input.componentName) {
    try {
      await deps.sagemaker.send(
        new DeleteInferenceComponentCommand({ InferenceComponentName: input.componentName }),
      );
    } catch (error) {
      if ((error as Error).name !== 'ValidationException') throw error; // already gone
    }
  }
  const failed = await deps.jobs.transition(input.jobId, ACTIVE_STATUSES, 'failed', {
    finishedAt: seconds(deps),
    error: {
      code: input.error === 'JobFailure' ? 'invalid_job' : 'job_failed',
      message,
      param: null,
    },
  });
  const job = await deps.jobs.get(input.jobId);
  // A model the deploy step recorded is never served: it failed with the job.
  if (job?.adapterComponent) {
    await deps.models.transition(fineTunedModelId(job), ['deploying'], 'failed', {
      failureReason: message,
    });
  }
  if (failed) {
    await deps.jobs.addEvent(input.jobId, {
      id: 'ftevent-failed',
      createdAt: seconds(deps),
      level: 'error',
      message,
    });
  }
  await deps.billing?.settle(input.jobId);
  return { status: (await deps.jobs.get(input.jobId))?.status ?? 'failed' };
}

/** Step Functions' error and cause, made readable: a task's cause is JSON with errorMessage; SageMaker's has FailureReason. */
export function failureMessage(error: string | undefined, cause: string | undefined): string {
  if (!cause) return error ?? 'The job failed';
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: string; FailureReason?: string };
    return parsed.FailureReason ?? parsed.errorMessage ?? cause;
  } catch {
    return cause;
  }
}
