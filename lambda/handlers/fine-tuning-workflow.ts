import { S3Client } from '@aws-sdk/client-s3';
import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import { bundledConfig } from '../config';
import { FINE_TUNING_BUCKET_ENV, FINE_TUNING_TABLE_ENV } from '../fine-tuning/fine-tuning-table';
import { JobsRepository } from '../fine-tuning/jobs-repository';
import { ModelsRepository } from '../fine-tuning/models-repository';
import { createWorkflowHandler } from '../fine-tuning/workflow-handler';
import { requiredEnv } from '../http/environment';

// Created once per execution environment and reused across invocations.
export const handler = createWorkflowHandler({
  jobs: new JobsRepository(requiredEnv(FINE_TUNING_TABLE_ENV)),
  models: new ModelsRepository(requiredEnv(FINE_TUNING_TABLE_ENV)),
  s3: new S3Client({}),
  sagemaker: new SageMakerClient({}),
  config: bundledConfig(),
  bucket: requiredEnv(FINE_TUNING_BUCKET_ENV),
});
