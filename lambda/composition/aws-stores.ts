import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CUSTOMERS_TABLE_ENV } from '../customers/customers-table';
import { FILES_BUCKET_ENV, FILES_TABLE_ENV } from '../files/files-table';
import { FINE_TUNING_BUCKET_ENV, FINE_TUNING_TABLE_ENV } from '../fine-tuning/fine-tuning-table';
import { METERING_TABLE_ENV } from '../metering/metering-table';
import { awsClientOptions } from '../storage/aws-clients';
import { createDocumentClient } from '../storage/document-client';
import { createLeanDocumentClient } from '../storage/lean-document-client';
import { type Buckets, type Engines, madeOnFirstRead, type Tables } from './engines';
import { requiredEnv } from './environment';

export interface AwsStoreOptions {
  /**
   * Which implementation of the document client the repositories get. `lean` (the default) sends
   * the five item operations straight to DynamoDB (lean-document-client.ts: metering is on every
   * request); `sdk` sends every call through the SDK's middleware.
   */
  documentClient?: 'lean' | 'sdk';
}

/** The engines a function needs to build repositories: the document client, tables and buckets. */
export type Stores = Pick<Engines, 'doc' | 'tables' | 'buckets'>;

/**
 * A Lambda function's stores: the document client on a DynamoDB client with the runtime's
 * timeouts, and the tables and buckets named by the environment variables the function's CDK
 * construct sets, each read on first use. The functions that only read and write tables (the
 * authorizer, the reconciler, the usage aggregator, the training-events handler) build on these
 * alone, so their bundles carry no other AWS client.
 */
export function awsStores(options: AwsStoreOptions = {}): Stores {
  return madeOnFirstRead<Stores>({
    doc: () => {
      const dynamo = new DynamoDBClient(awsClientOptions());
      return options.documentClient === 'sdk'
        ? createDocumentClient(dynamo)
        : createLeanDocumentClient(dynamo);
    },
    tables: () => awsTables(),
    buckets: () => awsBuckets(),
  });
}

/** Each table's name, read from its environment variable on first use. */
function awsTables(): Tables {
  return madeOnFirstRead<Tables>({
    customers: () => requiredEnv(CUSTOMERS_TABLE_ENV),
    metering: () => requiredEnv(METERING_TABLE_ENV),
    files: () => requiredEnv(FILES_TABLE_ENV),
    fineTuning: () => requiredEnv(FINE_TUNING_TABLE_ENV),
  });
}

/** Each bucket's name, read from its environment variable on first use. */
function awsBuckets(): Buckets {
  return madeOnFirstRead<Buckets>({
    files: () => requiredEnv(FILES_BUCKET_ENV),
    fineTuning: () => requiredEnv(FINE_TUNING_BUCKET_ENV),
    // Adapters are repackaged into the fine-tuning bucket.
    adapters: () => requiredEnv(FINE_TUNING_BUCKET_ENV),
  });
}
