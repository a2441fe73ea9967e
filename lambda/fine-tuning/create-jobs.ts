import type { S3Client } from '@aws-sdk/client-s3';
import type { TierlineConfig } from '../../lib/config/schema';
import type { FileStorage } from '../files/file-storage';
import type { FilesService } from '../files/files-service';
import { PromptTokenCounter } from '../inference/prompt-tokens';
import type { LedgerWriter } from '../metering/ledger';
import type { SpendTracker } from '../metering/spend';
import type { DocumentClient } from '../storage/document-client';
import { JobBilling } from './job-billing';
import type { JobLauncher } from './job-launcher';
import { S3JobStorage } from './job-storage';
import { JobsRepository } from './jobs-repository';
import { JobsService } from './jobs-service';

/** The fine-tuning jobs API on its table and bucket; Lambda and local mode build it the same way. */
export function createFineTuningJobs(options: {
  config: TierlineConfig;
  /** The document client of the fine-tuning table. */
  doc: DocumentClient;
  tableName: string;
  s3: S3Client;
  filesBucket: string;
  fineTuningBucket: string;
  files: { files: Pick<FilesService, 'get'>; storage: Pick<FileStorage, 'read'> };
  spend: SpendTracker;
  ledger: Pick<LedgerWriter, 'write'>;
  launcher: JobLauncher;
  now?: () => Date;
}): { service: JobsService; billing: JobBilling; jobs: JobsRepository } {
  const jobs = new JobsRepository(options.doc, options.tableName);
  const billing = new JobBilling({
    jobs,
    spend: options.spend,
    ledger: options.ledger,
    config: options.config,
  });
  // Training tokens are counted as the chat template renders each conversation, with the model's
  // tokenizer.
  const counter = new PromptTokenCounter(options.config);
  const service = new JobsService({
    config: options.config,
    jobs,
    files: options.files.files,
    fileContent: options.files.storage,
    storage: new S3JobStorage({
      s3: options.s3,
      filesBucket: options.filesBucket,
      fineTuningBucket: options.fineTuningBucket,
    }),
    launcher: options.launcher,
    spend: options.spend,
    billing,
    countTokens: (model, messages) => counter.count(model, messages),
    now: options.now,
  });
  return { service, billing, jobs };
}
