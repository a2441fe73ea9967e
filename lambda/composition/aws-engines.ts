import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { TierlineConfig } from '../../lib/config/schema';
import { SageMakerTranscriber } from '../audio/sagemaker-transcriber';
import { BATCH_QUEUE_ENV, SqsBatchQueue } from '../batches/batch-queue';
import { createS3Client } from '../files/file-storage';
import { FINE_TUNING_STATE_MACHINE_ENV } from '../fine-tuning/fine-tuning-table';
import { StepFunctionsLauncher } from '../fine-tuning/job-launcher';
import { SageMakerBackend } from '../inference/backends/sagemaker-backend';
import { SqsDeadLetterSink } from '../metering/ledger';
import { LEDGER_DEAD_LETTERS_ENV } from '../metering/metering-table';
import { EVENT_SOURCE_ENV, EventBridgeSpendAlerts } from '../metering/spend-alerts';
import { awsClientOptions } from '../storage/aws-clients';
import { awsInvitations } from './aws-invitations';
import { awsSpendAlertMail } from './aws-mail';
import { type AwsStoreOptions, awsStores } from './aws-stores';
import { type Engines, type Makers, madeOnFirstRead } from './engines';
import { requiredEnv } from './environment';

export interface AwsEngineOptions extends AwsStoreOptions {
  /** The bundled config (`bundledConfig()`): the backend and the launcher are named after its environment. */
  config: TierlineConfig;
  logError?: Engines['logError'];
  /** Engines this function makes its own way (the fine-tuning workflow's S3 client). */
  override?: Partial<Makers<Engines>>;
}

/**
 * The engines of a Lambda function: AWS's services, each client created on first use with the
 * runtime's timeouts (aws-clients.ts), and the table, bucket, queue and state machine named by the
 * environment variables the function's CDK construct sets. Created once per execution environment
 * (the handler's module scope) and reused across invocations. The handlers that only read and
 * write tables take {@link awsStores} instead, and keep the other clients out of their bundles.
 */
export function awsEngines(options: AwsEngineOptions): Engines {
  const environmentName = options.config.environment.name;
  const stores = awsStores(options);
  const clients = madeOnFirstRead({
    sqs: () => new SQSClient(awsClientOptions()),
    sagemaker: () => new SageMakerClient(awsClientOptions()),
  });
  return madeOnFirstRead<Engines>({
    doc: () => stores.doc,
    s3: () => createS3Client(),
    tables: () => stores.tables,
    buckets: () => stores.buckets,
    deadLetters: () => new SqsDeadLetterSink(clients.sqs, requiredEnv(LEDGER_DEAD_LETTERS_ENV)),
    alerts: () =>
      new EventBridgeSpendAlerts(
        new EventBridgeClient(awsClientOptions()),
        requiredEnv(EVENT_SOURCE_ENV),
      ),
    batchQueue: () => new SqsBatchQueue(clients.sqs, requiredEnv(BATCH_QUEUE_ENV)),
    backend: () => new SageMakerBackend({ env: environmentName }),
    // Whisper on its SageMaker endpoint (the inference stack's SpeechEndpoint); a catalog without
    // speech models has no endpoint to call, and the audio routes answer 404.
    speech: () =>
      Object.keys(options.config.speechModels).length > 0
        ? new SageMakerTranscriber({ env: environmentName })
        : undefined,
    launcher: () =>
      new StepFunctionsLauncher({
        sfn: new SFNClient(awsClientOptions()),
        sagemaker: clients.sagemaker,
        stateMachineArn: requiredEnv(FINE_TUNING_STATE_MACHINE_ENV),
        environmentName,
      }),
    sagemaker: () => clients.sagemaker,
    now: () => undefined,
    invitations: () => awsInvitations(options.logError),
    spendAlertMail: () => awsSpendAlertMail(options.logError),
    logError: () => options.logError ?? (() => undefined),
    ...options.override,
  });
}
