import { bundledConfig } from '../config';
import { FINE_TUNING_TABLE_ENV } from '../fine-tuning/fine-tuning-table';
import { JobsRepository } from '../fine-tuning/jobs-repository';
import {
  applyTrainingStateChange,
  type TrainingJobStateChange,
} from '../fine-tuning/training-state-change';
import { requiredEnv } from '../http/environment';

const jobs = new JobsRepository(requiredEnv(FINE_TUNING_TABLE_ENV));
const environmentName = bundledConfig().environment.name;

/** EventBridge target: "SageMaker Training Job State Change". A thrown error makes EventBridge retry. */
export const handler = async (event: TrainingJobStateChange): Promise<string> =>
  applyTrainingStateChange(event, { jobs, environmentName });
