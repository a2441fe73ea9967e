import { appendFileSync, mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import dynalite from 'dynalite';
import { TestTranscriber } from '../lambda/audio/test-transcriber';
import type { InProcessBatchQueue } from '../lambda/batches/in-process-queue';
import type { Engines } from '../lambda/composition/engines';
import { createS3Client } from '../lambda/files/file-storage';
import { NO_TRAINER } from '../lambda/fine-tuning/job-launcher';
import {
  TEST_MODEL_OWNER,
  TestModelBackend,
} from '../lambda/inference/backends/test-model-backend';
import { PromptTokenCounter } from '../lambda/inference/prompt-tokens';
import { sendToEach } from '../lambda/mail/mail';
import { MailFileMailer } from '../lambda/mail/mail-file';
import {
  type DeadLetterSink,
  FileDeadLetterSink,
  type LedgerRecord,
} from '../lambda/metering/ledger';
import type { SpendAlert } from '../lambda/metering/spend';
import { createDocumentClient, type DocumentClient } from '../lambda/storage/document-client';
import { createLeanDocumentClient } from '../lambda/storage/lean-document-client';
import { ApiGatewayEmulator } from './api-gateway-emulator';
import { localMailFile } from './local-mail';
import type { LocalModeOptions } from './local-mode';
import { startLocalS3 } from './local-s3';
import {
  ensureCustomersTable,
  ensureFilesTable,
  ensureFineTuningTable,
  ensureMeteringTable,
} from './local-tables';

export const LOCAL_CUSTOMERS_TABLE = 'tierline-local-customers';
export const LOCAL_METERING_TABLE = 'tierline-local-metering';
export const LOCAL_FILES_TABLE = 'tierline-local-files';
export const LOCAL_FILES_BUCKET = 'tierline-local-files';
export const LOCAL_FINE_TUNING_TABLE = 'tierline-local-fine-tuning';
export const LOCAL_FINE_TUNING_BUCKET = 'tierline-local-lora';

export const deadLettersFile = (dataDir: string) => path.join(dataDir, 'ledger-dead-letters.jsonl');
const eventsFile = (dataDir: string) => path.join(dataDir, 'events.jsonl');

/** Dead letters kept in memory when local mode keeps no files (tests). */
class MemoryDeadLetterSink implements DeadLetterSink {
  readonly records: LedgerRecord[] = [];
  async send(record: LedgerRecord): Promise<void> {
    this.records.push(record);
  }
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
}

/** Local mode's storage engines: dynalite as DynamoDB (with every table made), s3rver as S3. */
export interface LocalStorage {
  dynamoEndpoint: string;
  client: DynamoDBClient;
  doc: DocumentClient;
  s3Endpoint: string;
  s3: S3Client;
  stop(): Promise<void>;
}

/**
 * Starts dynalite (unless the options name a DynamoDB engine already running) with every table,
 * and an embedded S3 server with the buckets, on disk in the data folder or in memory.
 */
export async function startLocalStorage(options: LocalModeOptions): Promise<LocalStorage> {
  if (options.dataDir) mkdirSync(options.dataDir, { recursive: true });
  const dynamo = options.dynamoEndpoint
    ? undefined
    : dynalite({
        path: options.dataDir ? path.join(options.dataDir, 'dynamodb') : undefined,
        createTableMs: 0,
        deleteTableMs: 0,
        updateTableMs: 0,
      });
  const dynamoEndpoint = dynamo
    ? `http://127.0.0.1:${await listen(dynamo, 0, '127.0.0.1')}`
    : (options.dynamoEndpoint as string);
  const client = new DynamoDBClient({
    endpoint: dynamoEndpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  options.instrumentDynamo?.(client);
  await ensureCustomersTable(client, LOCAL_CUSTOMERS_TABLE);
  await ensureMeteringTable(client, LOCAL_METERING_TABLE);
  await ensureFilesTable(client, LOCAL_FILES_TABLE);
  await ensureFineTuningTable(client, LOCAL_FINE_TUNING_TABLE);
  await ApiGatewayEmulator.createTable(client);
  // File content in an embedded S3 server, on disk beside the DynamoDB data (or in a temporary
  // folder).
  const s3Server = await startLocalS3({
    directory: options.dataDir ? path.join(options.dataDir, 's3') : undefined,
    bucket: LOCAL_FILES_BUCKET,
    moreBuckets: [LOCAL_FINE_TUNING_BUCKET],
  });
  const s3 = createS3Client({ endpoint: s3Server.endpoint });
  return {
    dynamoEndpoint,
    client,
    // As in Lambda, item calls skip the SDK's middleware, unless a caller counts calls through
    // that middleware.
    doc: options.instrumentDynamo ? createDocumentClient(client) : createLeanDocumentClient(client),
    s3Endpoint: s3Server.endpoint,
    s3,
    stop: async () => {
      client.destroy();
      s3.destroy();
      await s3Server.stop();
      if (dynamo) await new Promise<void>((resolve) => dynamo.close(() => resolve()));
    },
  };
}

/**
 * The engines local mode runs the composition root on: its storage, dead letters in a file (or in
 * memory), spend alerts in a list (and a file), the in-process batch queue, the test model (or the
 * options' backend), no trainer unless the options give one, and no SageMaker unless a test mocks
 * it (a registered adapter is then ready at once, and the local backend serves it by name).
 */
export function localEngines(
  options: LocalModeOptions,
  storage: LocalStorage,
  parts: {
    events: SpendAlert[];
    batchQueue: InProcessBatchQueue;
    logError: Engines['logError'];
    invitations?: Engines['invitations'];
  },
): Engines {
  return {
    doc: storage.doc,
    s3: storage.s3,
    tables: {
      customers: LOCAL_CUSTOMERS_TABLE,
      metering: LOCAL_METERING_TABLE,
      files: LOCAL_FILES_TABLE,
      fineTuning: LOCAL_FINE_TUNING_TABLE,
    },
    buckets: {
      files: LOCAL_FILES_BUCKET,
      fineTuning: LOCAL_FINE_TUNING_BUCKET,
      // One embedded bucket: repackaged adapters sit beside the files under `adapters/`.
      adapters: LOCAL_FILES_BUCKET,
    },
    deadLetters: options.dataDir
      ? new FileDeadLetterSink(deadLettersFile(options.dataDir))
      : new MemoryDeadLetterSink(),
    alerts: {
      publish: async (alert) => {
        parts.events.push(alert);
        options.log?.(`spend alert: ${JSON.stringify(alert)}`);
        if (options.dataDir)
          appendFileSync(eventsFile(options.dataDir), `${JSON.stringify(alert)}\n`);
      },
    },
    // The mail file cognito-local writes too: one place to read what local mode e-mailed.
    spendAlertMail: {
      send: async (alert) => {
        options.log?.(`spend alert e-mail: ${alert.subject} to ${alert.to.join(', ')}`);
        if (!options.dataDir) return;
        const tags = { reason: 'SpendAlert', code: alert.alertId };
        await sendToEach(new MailFileMailer(localMailFile(options.dataDir), tags), alert);
      },
    },
    batchQueue: parts.batchQueue,
    backend: options.backend ?? testModel(options),
    speech: options.speech ?? new TestTranscriber(),
    launcher: options.fineTuningLauncher ?? NO_TRAINER,
    sagemaker: options.sagemaker,
    now: options.now,
    invitations: parts.invitations,
    logError: parts.logError,
  };
}

/** The built-in test model reports prompt usage as a real server does: with the model's tokenizer. */
function testModel(options: LocalModeOptions): TestModelBackend {
  const counter = new PromptTokenCounter(options.config);
  return new TestModelBackend({
    promptTokens: (model, messages) => counter.count(model, messages),
  });
}

/** `owned_by` in `/v1/models`: the test model's owner, or the options' for a custom backend. */
export function modelOwnerOf(engines: Pick<Engines, 'backend'>, options: LocalModeOptions) {
  return engines.backend instanceof TestModelBackend ? TEST_MODEL_OWNER : options.modelOwner;
}
