import type { S3Client } from '@aws-sdk/client-s3';
import type { SageMakerClient } from '@aws-sdk/client-sagemaker';
import type { SpeechBackend } from '../audio/speech-backend';
import type { BatchQueue } from '../batches/batch-queue';
import type { JobLauncher } from '../fine-tuning/job-launcher';
import type { ModelBackend } from '../inference/backends/model-backend';
import type { DeadLetterSink } from '../metering/ledger';
import type { SpendAlertPublisher } from '../metering/spend';
import type { SpendAlertMailer } from '../metering/spend-alert-rules';
import type { DocumentClient } from '../storage/document-client';
import type { InvitationEngines } from './members';

/**
 * The engines the composition root builds Tierline's stores and services on. This is the one
 * thing Lambda and local mode choose differently; everything built on it is built by the same
 * functions (this folder), whatever runs it.
 *
 * | engine | in Lambda (aws-engines.ts) | in local mode (local/local-engines.ts) |
 * |---|---|---|
 * | `doc` | the lean document client (or the SDK's) | the same, on dynalite |
 * | `s3` | S3 | s3rver |
 * | `tables`, `buckets` | names from the function's environment | fixed local names |
 * | `deadLetters` | SQS | a file (or memory) |
 * | `alerts` | EventBridge | a list and a file |
 * | `spendAlertMail` | SES `SendEmail` input in the log | the mail file (`<data>/mail.txt`) |
 * | `batchQueue` | SQS | the in-process queue |
 * | `backend` | SageMaker | the test model or an OpenAI-compatible server |
 * | `speech` | Whisper on its SageMaker endpoint (`SageMakerTranscriber`) | the test transcriber |
 * | `launcher` | Step Functions | no trainer (or a test's) |
 * | `sagemaker` | SageMaker's control plane | absent (adapters ready at once) or a test's mock |
 *
 * Lambda's engines are made on first read (aws-engines.ts): a function reads only the environment
 * variables and creates only the clients of the concerns it builds.
 */
export interface Engines {
  /** What every repository takes, beside its table name. */
  readonly doc: DocumentClient;
  readonly s3: S3Client;
  readonly tables: Tables;
  readonly buckets: Buckets;
  /** Where ledger records go that could not be written (the operator replays them). */
  readonly deadLetters: DeadLetterSink;
  readonly alerts: SpendAlertPublisher;
  /** Where the customers' own spend alerts are e-mailed; absent, none is sent. */
  readonly spendAlertMail?: SpendAlertMailer;
  /** Where the Batch API and the batch worker send batch work. */
  readonly batchQueue: BatchQueue;
  /** Where models run. */
  readonly backend: ModelBackend;
  /** Where speech-to-text models run; absent, `/v1/audio/*` answers 404. */
  readonly speech: SpeechBackend | undefined;
  /** What runs fine-tuning jobs. */
  readonly launcher: JobLauncher;
  /** SageMaker's control plane (adapter components); absent, a registered adapter is ready at once. */
  readonly sagemaker: SageMakerClient | undefined;
  /** The clock (local mode's tests); absent, the system clock. */
  readonly now: (() => Date) | undefined;
  /** Invitation mail, the user pool, the console's address; absent, members and invites answer 404. */
  readonly invitations: InvitationEngines | undefined;
  readonly logError: (message: string, details: Record<string, unknown>) => void;
}

/** The DynamoDB tables, by concern. */
export interface Tables {
  readonly customers: string;
  readonly metering: string;
  /** Files, uploads and batches. */
  readonly files: string;
  /** Fine-tuning jobs and fine-tuned models. */
  readonly fineTuning: string;
}

/** The S3 buckets, by what they hold. */
export interface Buckets {
  /** File content. */
  readonly files: string;
  /** Training data and job output. */
  readonly fineTuning: string;
  /** Repackaged LoRA adapters (in AWS the fine-tuning bucket; local mode keeps one bucket). */
  readonly adapters: string;
}

/** Makers of each member of `T`. */
export type Makers<T> = { [K in keyof T]: () => T[K] };

/**
 * An object whose members are made on first read, then kept. Lambda's engines are: a function
 * that builds only metering never reads the files bucket's environment variable, nor creates an S3
 * client.
 */
export function madeOnFirstRead<T extends object>(makers: Makers<T>): T {
  const made = {} as T;
  for (const key of Object.keys(makers) as (keyof T)[]) {
    let value: T[keyof T];
    let done = false;
    Object.defineProperty(made, key, {
      enumerable: true,
      get: () => {
        if (!done) {
          value = makers[key]();
          done = true;
        }
        return value;
      },
    });
  }
  return made;
}
