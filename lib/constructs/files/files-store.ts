import { Aws, Duration, Stack, Validations } from 'aws-cdk-lib';
import type { Table } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { Key } from 'aws-cdk-lib/aws-kms';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import type { Bucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { FILES_BUCKET_ENV } from '../../../lambda/files/file-storage';
import { FILES_TABLE, FILES_TABLE_ENV } from '../../../lambda/files/files-table';
import { createEncryptedBucket } from '../encrypted-bucket';
import { createEncryptedTable } from '../encrypted-table';
import { nagResource } from '../fine-tuning/nag-ids';

export interface FilesStoreProps {
  /** The environment's name, part of the bucket's name. */
  readonly environmentName: string;
  /** Keep the bucket, the table and their key when the stack is deleted. */
  readonly retainData: boolean;
  /**
   * Days a deleted or overwritten file's content stays as a noncurrent version (the bucket is
   * versioned, so a mistaken delete can be undone by an operator) before S3 removes it for good.
   * @default 30
   */
  readonly deletedContentRetentionDays?: number;
}

/**
 * Customers' files: metadata in a DynamoDB table, content in an S3 bucket, both encrypted with one
 * customer-managed KMS key. The bucket takes TLS only, blocks public access, is versioned, logs
 * access to a second bucket, and its lifecycle removes what no file needs any more: upload parts
 * (`parts/`), multipart uploads never completed, and the old versions of deleted content.
 */
export class FilesStore extends Construct {
  public readonly table: Table;
  public readonly bucket: Bucket;
  public readonly accessLogs: Bucket;
  public readonly encryptionKey: Key;
  public readonly byPurposeIndexName = FILES_TABLE.byPurposeIndex.name;
  /**
   * `tierline-<env>-files-<account>-<region>` (at most 59 of S3's 63 characters): a name known
   * without a cross-stack reference, so the API's grants name it in plain text.
   */
  public readonly bucketName: string;

  constructor(scope: Construct, id: string, props: FilesStoreProps) {
    super(scope, id);
    const { table, key } = createEncryptedTable(this, {
      purpose: 'files',
      schema: { ...FILES_TABLE, index: FILES_TABLE.byPurposeIndex },
      timeToLiveAttribute: FILES_TABLE.timeToLiveAttribute,
      retainData: props.retainData,
    });
    this.table = table;
    this.encryptionKey = key;

    this.bucketName = `tierline-${props.environmentName}-files-${Aws.ACCOUNT_ID}-${Aws.REGION}`;
    ({ bucket: this.bucket, accessLogs: this.accessLogs } = createEncryptedBucket(this, {
      purpose: 'files bucket',
      bucketName: this.bucketName,
      encryptionKey: key,
      retainData: props.retainData,
      accessLogPrefix: 'files/',
      lifecycleRules: [
        // Uploads expire after an hour (OpenAI's figure); their parts are deleted on complete or
        // cancel, and these catch what a crash left.
        { id: 'expire-upload-parts', prefix: 'parts/', expiration: Duration.days(2) },
        { id: 'abort-incomplete-multipart', abortIncompleteMultipartUploadAfter: Duration.days(1) },
        {
          id: 'expire-deleted-content',
          noncurrentVersionExpiration: Duration.days(props.deletedContentRetentionDays ?? 30),
          expiredObjectDeleteMarker: true,
        },
      ],
    }));
  }

  /**
   * Lets `fn` keep Responses API responses (`POST /v1/responses` and the `previous_response_id` it
   * reads): items of the files table, no index, no bucket; and the key. Tells it the table's name.
   * UpdateItem: the input truncation dropped is counted against the storage quota (the counter
   * the files share) before the model runs. No DeleteItem: a response not stored is given back by
   * updates, and its items expire.
   */
  public bindForStoredResponses(fn: LambdaFunction): void {
    fn.addEnvironment(FILES_TABLE_ENV, this.table.tableName);
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query'],
        resources: [this.table.tableArn],
      }),
    );
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'],
        resources: [this.encryptionKey.keyArn],
      }),
    );
  }

  /**
   * Lets `fn` serve the Files and Uploads APIs: items of the files table and its purpose index,
   * objects under `files/` and `parts/` of the bucket, and the key for both; and tells it their
   * names.
   */
  public bindForFiles(fn: LambdaFunction): void {
    fn.addEnvironment(FILES_TABLE_ENV, this.table.tableName);
    fn.addEnvironment(FILES_BUCKET_ENV, this.bucketName);
    const objects = (prefix: string) =>
      Stack.of(fn).formatArn({
        service: 's3',
        region: '',
        account: '',
        resource: this.bucketName,
        resourceName: prefix,
      });
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: [
          'dynamodb:GetItem',
          'dynamodb:PutItem',
          'dynamodb:UpdateItem',
          'dynamodb:DeleteItem',
          'dynamodb:Query',
        ],
        resources: [this.table.tableArn, `${this.table.tableArn}/index/${this.byPurposeIndexName}`],
      }),
    );
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'],
        resources: [objects('files/*'), objects('parts/*')],
      }),
    );
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'],
        resources: [this.encryptionKey.keyArn],
      }),
    );
    if (fn.role) {
      for (const [prefix, what] of [
        ['files', "each customer's content, keyed by customer and file id"],
        ['parts', 'upload parts, deleted when their upload ends'],
      ]) {
        // Rendered as cdk-nag prints it: `<AWS::Partition>` in an env-agnostic stack, `aws` when
        // synth knows the region (the CLI sets CDK_DEFAULT_REGION when it can).
        Validations.of(fn.role).acknowledge({
          id: `AwsSolutions::AwsSolutions-IAM5[Resource::${nagResource(fn.role, objects(`${prefix}/*`))}]`,
          reason: `Objects of the files bucket under ${prefix}/ (${what}).`,
        });
      }
    }
  }
}
