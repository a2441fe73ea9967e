import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'hono';
import { defaultIsContentTypeBinary } from 'hono/aws-lambda';
import { MembershipsRepository } from '../accounts/memberships';
import { createSessionPrincipals } from '../accounts/session-principal';
import { BATCH_QUEUE_ENV, SqsBatchQueue } from '../batches/batch-queue';
import { BatchService } from '../batches/batch-service';
import { BatchesRepository } from '../batches/batches-repository';
import { bundledConfig } from '../config';
import type { Principal } from '../customers/authenticate';
import { CustomersRepository, type createDocumentClient } from '../customers/customers-repository';
import { CUSTOMERS_TABLE_ENV } from '../customers/customers-table';
import { principalFromAuthorizer, requestIdFromEvent } from '../customers/lambda-principal';
import { createFiles } from '../files/create-files';
import { createS3Client, FILES_BUCKET_ENV } from '../files/file-storage';
import { FILES_TABLE_ENV } from '../files/files-table';
import { AdaptersService, refreshModel } from '../fine-tuning/adapters-service';
import { createFineTuningJobs } from '../fine-tuning/create-jobs';
import {
  FINE_TUNING_BUCKET_ENV,
  FINE_TUNING_STATE_MACHINE_ENV,
  FINE_TUNING_TABLE_ENV,
} from '../fine-tuning/fine-tuning-table';
import { StepFunctionsLauncher } from '../fine-tuning/job-launcher';
import { FineTunedModelResolver } from '../fine-tuning/model-resolver';
import { ModelsRepository } from '../fine-tuning/models-repository';
import { SageMakerBackend } from '../inference/backends/sagemaker-backend';
import { SqsDeadLetterSink } from '../metering/ledger';
import { LEDGER_DEAD_LETTERS_ENV, METERING_TABLE_ENV } from '../metering/metering-table';
import { createMetering, type MeteringParts } from '../metering/request-metering';
import { EVENT_SOURCE_ENV, EventBridgeSpendAlerts } from '../metering/spend-alerts';
import { awsClientOptions } from '../storage/aws-clients';
import { createLeanDocumentClient } from '../storage/lean-document-client';
import { createApiApp } from './app';
import { requiredEnv } from './environment';

/**
 * Which responses the buffered adapter base64-encodes. File content (JSONL) is text and goes out as
 * is: API Gateway decodes base64 only for binary media types that the client accepts.
 */
export function isBinaryResponse(contentType: string): boolean {
  return (
    !/^application\/jsonl\s*(?:;|$)/i.test(contentType) && defaultIsContentTypeBinary(contentType)
  );
}

/**
 * The Files, Uploads and Batch APIs on the files table and bucket, with batch work sent to SQS; the
 * fine-tuning jobs API on its table and bucket, with jobs run by the state machine.
 */
function filesBatchesAndJobs(
  config: ReturnType<typeof bundledConfig>,
  doc: ReturnType<typeof createDocumentClient>,
  metering: MeteringParts,
) {
  const tableName = requiredEnv(FILES_TABLE_ENV);
  const s3 = createS3Client();
  const filesBucket = requiredEnv(FILES_BUCKET_ENV);
  const files = createFiles({ doc, tableName, s3, bucket: filesBucket, config: config.files });
  const batches = new BatchService({
    config,
    batches: new BatchesRepository(doc, tableName),
    files: files.files,
    queue: new SqsBatchQueue(new SQSClient(awsClientOptions()), requiredEnv(BATCH_QUEUE_ENV)),
  });
  const fineTuningJobs = createFineTuningJobs({
    config,
    tableName: requiredEnv(FINE_TUNING_TABLE_ENV),
    s3,
    filesBucket,
    fineTuningBucket: requiredEnv(FINE_TUNING_BUCKET_ENV),
    files,
    spend: metering.spend,
    ledger: metering.ledger,
    launcher: new StepFunctionsLauncher({
      sfn: new SFNClient(awsClientOptions()),
      sagemaker: new SageMakerClient(awsClientOptions()),
      stateMachineArn: requiredEnv(FINE_TUNING_STATE_MACHINE_ENV),
      environmentName: config.environment.name,
    }),
  }).service;
  // Uploaded LoRA adapters (`/v1/fine_tunings`) and fine-tuned models in `/v1/models`.
  const adapters = new AdaptersService({
    config,
    models: new ModelsRepository(requiredEnv(FINE_TUNING_TABLE_ENV)),
    files: files.files,
    s3,
    filesBucket,
    adapterBucket: requiredEnv(FINE_TUNING_BUCKET_ENV),
    sagemaker: new SageMakerClient(awsClientOptions()),
  });
  return { files, batches, fineTuningJobs, adapters };
}

/** `ft:` models in chat completions: one GetItem per model (cached briefly), the status applied lazily. */
function fineTunedModels(config: ReturnType<typeof bundledConfig>): FineTunedModelResolver {
  const models = new ModelsRepository(requiredEnv(FINE_TUNING_TABLE_ENV));
  const sagemaker = new SageMakerClient(awsClientOptions());
  return new FineTunedModelResolver({
    config,
    models,
    refresh: (model) => refreshModel(model, { models, sagemaker }),
  });
}

/**
 * The principal from the authorizer's context, console sessions included: the authorizer verified
 * the session's token; its organization is chosen here (lambda/accounts/session-principal.ts),
 * reused for the authorizer cache's TTL so a suspended organization stops within the same bound.
 */
function sessionAwarePrincipals(
  config: ReturnType<typeof bundledConfig>,
  doc: ReturnType<typeof createDocumentClient>,
): (c: Context) => Promise<Principal> {
  const tableName = requiredEnv(CUSTOMERS_TABLE_ENV);
  const sessions = createSessionPrincipals({
    memberships: new MembershipsRepository(doc, tableName),
    customers: new CustomersRepository(doc, tableName),
    cacheTtlMs: config.environment.authorizerCacheTtlSeconds * 1000,
  });
  return (c) => principalFromAuthorizer(c, sessions);
}

/**
 * The API app as it runs in Lambda: config bundled, principal from the authorizer, models on
 * SageMaker, metering on DynamoDB with dead letters in SQS and spend alerts on EventBridge.
 */
export function createLambdaApp(serviceName: string, options: { files?: boolean } = {}) {
  const logger = new Logger({ serviceName });
  const config = bundledConfig();
  // Item calls skip the SDK's middleware (lambda/storage/lean-document-client.ts): metering is on
  // every request.
  const doc = createLeanDocumentClient(new DynamoDBClient(awsClientOptions()));
  const logError = (message: string, details: Record<string, unknown>) =>
    logger.error(message, details);
  const metering = createMetering({
    config,
    doc,
    tableName: requiredEnv(METERING_TABLE_ENV),
    deadLetters: new SqsDeadLetterSink(
      new SQSClient(awsClientOptions()),
      requiredEnv(LEDGER_DEAD_LETTERS_ENV),
    ),
    alerts: new EventBridgeSpendAlerts(
      new EventBridgeClient(awsClientOptions()),
      requiredEnv(EVENT_SOURCE_ENV),
    ),
    logError,
  });
  return createApiApp({
    config,
    principalOf: sessionAwarePrincipals(config, doc),
    customers: new CustomersRepository(doc, requiredEnv(CUSTOMERS_TABLE_ENV)),
    backend: new SageMakerBackend({ env: config.environment.name }),
    ...metering,
    ...(options.files ? filesBatchesAndJobs(config, doc, metering) : {}),
    fineTunedModels: fineTunedModels(config),
    requestIdOf: requestIdFromEvent,
    logError,
  });
}
