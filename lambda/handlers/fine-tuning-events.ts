import { awsStores } from '../composition/aws-stores';
import { jobsRepository } from '../composition/repositories';
import { bundledConfig } from '../config';
import {
  applyTrainingStateChange,
  type TrainingJobStateChange,
} from '../fine-tuning/training-state-change';

// Off the request path: the SDK's document client (every call through its middleware).
const jobs = jobsRepository(awsStores({ documentClient: 'sdk' }));
const environmentName = bundledConfig().environment.name;

/** EventBridge target: "SageMaker Training Job State Change". A thrown error makes EventBridge retry. */
export const handler = async (event: TrainingJobStateChange): Promise<string> =>
  applyTrainingStateChange(event, { jobs, environmentName });
