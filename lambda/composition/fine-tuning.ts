import type { TierlineConfig } from '../../lib/config/schema';
import { AdaptersService, refreshModel } from '../fine-tuning/adapters-service';
import { createFineTuningJobs } from '../fine-tuning/create-jobs';
import { JobBilling } from '../fine-tuning/job-billing';
import type { JobsService } from '../fine-tuning/jobs-service';
import { FineTunedModelResolver } from '../fine-tuning/model-resolver';
import type { ModelsRepository } from '../fine-tuning/models-repository';
import type { WorkflowDeps } from '../fine-tuning/workflow-tasks';
import type { MeteringParts } from '../metering/request-metering';
import type { Engines } from './engines';
import type { FilesParts } from './files-and-batches';
import { jobsRepository, modelsRepository } from './repositories';

/**
 * `ft:` models in chat completions: one GetItem per model (cached briefly), a deploying model's
 * status read from SageMaker on the way (none locally: ready at once).
 */
export function fineTunedModels(
  engines: Pick<Engines, 'doc' | 'tables' | 'sagemaker'>,
  config: TierlineConfig,
  models: ModelsRepository = modelsRepository(engines),
): FineTunedModelResolver {
  const sagemaker = engines.sagemaker;
  return new FineTunedModelResolver({
    config,
    models,
    refresh: (model) => refreshModel(model, { models, sagemaker }),
  });
}

/**
 * The fine-tuning jobs API (jobs run by the launcher, billed through metering) and uploaded LoRA
 * adapters (`/v1/fine_tunings`, fine-tuned models in `/v1/models`).
 */
export function fineTuningServices(
  engines: Pick<Engines, 'doc' | 's3' | 'tables' | 'buckets' | 'launcher' | 'sagemaker' | 'now'>,
  config: TierlineConfig,
  parts: { files: FilesParts; metering: Pick<MeteringParts, 'spend' | 'ledger'> },
): { jobs: JobsService; adapters: AdaptersService; models: ModelsRepository } {
  const jobs = createFineTuningJobs({
    config,
    doc: engines.doc,
    tableName: engines.tables.fineTuning,
    s3: engines.s3,
    filesBucket: engines.buckets.files,
    fineTuningBucket: engines.buckets.fineTuning,
    files: parts.files,
    spend: parts.metering.spend,
    ledger: parts.metering.ledger,
    launcher: engines.launcher,
    now: engines.now,
  }).service;
  const models = modelsRepository(engines);
  const adapters = new AdaptersService({
    config,
    models,
    files: parts.files.files,
    s3: engines.s3,
    filesBucket: engines.buckets.files,
    adapterBucket: engines.buckets.adapters,
    sagemaker: engines.sagemaker,
    now: engines.now,
  });
  return { jobs, adapters, models };
}

/**
 * The fine-tuning state machine's tasks: a job's training billed through the same ledger and
 * monthly spend as requests (job-billing.ts).
 */
export function fineTuningWorkflow(
  engines: Pick<Engines, 'doc' | 's3' | 'tables' | 'buckets' | 'sagemaker'>,
  config: TierlineConfig,
  metering: Pick<MeteringParts, 'spend' | 'ledger'>,
): WorkflowDeps {
  const jobs = jobsRepository(engines);
  const { sagemaker } = engines;
  if (!sagemaker)
    throw new Error('fineTuningWorkflow: the workflow needs SageMaker (engines.sagemaker)');
  return {
    jobs,
    models: modelsRepository(engines),
    s3: engines.s3,
    sagemaker,
    config,
    bucket: engines.buckets.fineTuning,
    billing: new JobBilling({ jobs, spend: metering.spend, ledger: metering.ledger, config }),
  };
}
