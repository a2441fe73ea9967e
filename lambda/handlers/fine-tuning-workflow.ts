import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import { SQSClient } from '@aws-sdk/client-sqs';
import { bundledConfig } from '../config';
import { createDocumentClient } from '../customers/customers-repository';
import { FINE_TUNING_BUCKET_ENV, FINE_TUNING_TABLE_ENV } from '../fine-tuning/fine-tuning-table';
import { JobBilling } from '../fine-tuning/job-billing';
import { JobsRepository } from '../fine-tuning/jobs-repository';
import { ModelsRepository } from '../fine-tuning/models-repository';
import { createWorkflowHandler } from '../fine-tuning/workflow-handler';
import { requiredEnv } from '../http/environment';
import { SqsDeadLetterSink } from '../metering/ledger';
import { LEDGER_DEAD_LETTERS_ENV, METERING_TABLE_ENV } from '../metering/metering-table';
import { createMetering } from '../metering/request-metering';
import { EVENT_SOURCE_ENV, EventBridgeSpendAlerts } from '../metering/spend-alerts';
import { awsClientOptions } from '../storage/aws-clients';

// Created once per execution environment and reused across invocations.
const config = bundledConfig();
const jobs = new JobsRepository(requiredEnv(FINE_TUNING_TABLE_ENV));
// A job's training is billed through the same ledger and monthly spend as requests
// (`job-billing.ts`).
const metering = createMetering({
  config,
  doc: createDocumentClient(),
  tableName: requiredEnv(METERING_TABLE_ENV),
  deadLetters: new SqsDeadLetterSink(
    new SQSClient(awsClientOptions()),
    requiredEnv(LEDGER_DEAD_LETTERS_ENV),
  ),
  alerts: new EventBridgeSpendAlerts(
    new EventBridgeClient(awsClientOptions()),
    requiredEnv(EVENT_SOURCE_ENV),
  ),
});

export const handler = createWorkflowHandler({
  jobs,
  models: new ModelsRepository(requiredEnv(FINE_TUNING_TABLE_ENV)),
  s3: new S3Client(awsClientOptions('s3')),
  sagemaker: new SageMakerClient(awsClientOptions()),
  config,
  bucket: requiredEnv(FINE_TUNING_BUCKET_ENV),
  billing: new JobBilling({ jobs, spend: metering.spend, ledger: metering.ledger, config }),
});
