import { Aws, Duration } from 'aws-cdk-lib';
import type { Table } from 'aws-cdk-lib/aws-dynamodb';
import type { Key } from 'aws-cdk-lib/aws-kms';
import type { Bucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { FINE_TUNING_TABLE } from '../../../lambda/fine-tuning/fine-tuning-table';
import { createEncryptedBucket } from '../encrypted-bucket';
import { createEncryptedTable } from '../encrypted-table';

export interface FineTuningStoreProps {
  /** The environment's name, part of the bucket's name. */
  readonly environmentName: string;
  /** Keep the bucket, the table and their key when the stack is deleted. */
  readonly retainData: boolean;
}

/**
 * Fine-tuning's data: jobs, their events and the fine-tuned models in a DynamoDB table; training
 * inputs, base weights, checkpoints and adapters in an S3 bucket (layout in
 * `lambda/fine-tuning/fine-tuning-table.ts`), both under one customer-managed KMS key, which also
 * encrypts the training jobs' output.
 */
export class FineTuningStore extends Construct {
  public readonly table: Table;
  public readonly bucket: Bucket;
  public readonly accessLogs: Bucket;
  public readonly encryptionKey: Key;
  /** `tierline-<env>-lora-<account>-<region>`: known without a cross-stack reference. */
  public readonly bucketName: string;

  constructor(scope: Construct, id: string, props: FineTuningStoreProps) {
    super(scope, id);
    const { table, key } = createEncryptedTable(this, {
      purpose: 'fine-tuning',
      schema: { ...FINE_TUNING_TABLE, index: FINE_TUNING_TABLE.byOwnerIndex },
      retainData: props.retainData,
    });
    this.table = table;
    this.encryptionKey = key;

    this.bucketName = `tierline-${props.environmentName}-lora-${Aws.ACCOUNT_ID}-${Aws.REGION}`;
    ({ bucket: this.bucket, accessLogs: this.accessLogs } = createEncryptedBucket(this, {
      purpose: 'fine-tuning bucket',
      bucketName: this.bucketName,
      encryptionKey: key,
      retainData: props.retainData,
      accessLogPrefix: 'lora/',
      lifecycleRules: [
        { id: 'abort-incomplete-multipart', abortIncompleteMultipartUploadAfter: Duration.days(1) },
        {
          id: 'expire-overwritten',
          noncurrentVersionExpiration: Duration.days(30),
          expiredObjectDeleteMarker: true,
        },
      ],
    }));
  }
}
