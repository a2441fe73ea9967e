import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SQSClient } from '@aws-sdk/client-sqs';
import { BATCH_QUEUE_ENV, SqsBatchQueue } from '../batches/batch-queue';
import { BatchWorker } from '../batches/batch-worker';
import { BatchesRepository } from '../batches/batches-repository';
import { createBatchSqsHandler } from '../batches/sqs-handler';
import { bundledConfig } from '../config';
import { createFiles } from '../files/create-files';
import { createS3Client, FILES_BUCKET_ENV } from '../files/file-storage';
import { FILES_TABLE_ENV } from '../files/files-table';
import { FINE_TUNING_TABLE_ENV } from '../fine-tuning/fine-tuning-table';
import { readyFineTunes } from '../fine-tuning/model-resolver';
import { ModelsRepository } from '../fine-tuning/models-repository';
import { requiredEnv } from '../http/environment';
import { SageMakerBackend } from '../inference/backends/sagemaker-backend';
import { SqsDeadLetterSink } from '../metering/ledger';
import { LEDGER_DEAD_LETTERS_ENV, METERING_TABLE_ENV } from '../metering/metering-table';
import { createMetering } from '../metering/request-metering';
import { EVENT_SOURCE_ENV, EventBridgeSpendAlerts } from '../metering/spend-alerts';
import { awsClientOptions } from '../storage/aws-clients';
import { createLeanDocumentClient } from '../storage/lean-document-client';

// Created once per execution environment and reused across invocations.
const logger = new Logger({ serviceName: 'batch-worker' });
const config = bundledConfig();
const doc = createLeanDocumentClient(new DynamoDBClient(awsClientOptions()));
const sqs = new SQSClient(awsClientOptions());
const logError = (message: string, details: Record<string, unknown>) =>
  logger.error(message, details);
const metering = createMetering({
  config,
  doc,
  tableName: requiredEnv(METERING_TABLE_ENV),
  deadLetters: new SqsDeadLetterSink(sqs, requiredEnv(LEDGER_DEAD_LETTERS_ENV)),
  alerts: new EventBridgeSpendAlerts(
    new EventBridgeClient(awsClientOptions()),
    requiredEnv(EVENT_SOURCE_ENV),
  ),
  logError,
});
const files = createFiles({
  doc,
  tableName: requiredEnv(FILES_TABLE_ENV),
  s3: createS3Client(),
  bucket: requiredEnv(FILES_BUCKET_ENV),
  config: config.files,
});
const worker = new BatchWorker({
  config,
  batches: new BatchesRepository(doc, requiredEnv(FILES_TABLE_ENV)),
  files: files.files,
  storage: files.storage,
  backend: new SageMakerBackend({ env: config.environment.name }),
  ledger: metering.ledger,
  spend: metering.spend,
  queue: new SqsBatchQueue(sqs, requiredEnv(BATCH_QUEUE_ENV)),
  // Lines may name the owner's ready `ft:` models (one Query of the owner's models per message).
  fineTunes: readyFineTunes(new ModelsRepository(requiredEnv(FINE_TUNING_TABLE_ENV))),
});

export const handler = createBatchSqsHandler((message) => worker.handle(message), logError);
