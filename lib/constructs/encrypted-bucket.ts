import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import type { Key } from 'aws-cdk-lib/aws-kms';
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  type LifecycleRule,
  ObjectOwnership,
} from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';

export interface EncryptedBucketOptions {
  /** What the bucket holds, for the access-log bucket's cdk-nag acknowledgement ("the files bucket"). */
  readonly purpose: string;
  /** A name known without a cross-stack reference, so grants elsewhere can name it in plain text. */
  readonly bucketName: string;
  /** The customer-managed key that also encrypts the table of the same store. */
  readonly encryptionKey: Key;
  /** Keep both buckets when the stack is deleted. */
  readonly retainData: boolean;
  /** Prefix of this bucket's server access logs in the log bucket. */
  readonly accessLogPrefix: string;
  /** Lifecycle rules (old versions, crash leftovers): what the store's objects need. */
  readonly lifecycleRules: LifecycleRule[];
}

/**
 * A Tierline data bucket: KMS with a bucket key, TLS only, no public access, owner-enforced
 * objects, versioned (an operator can undo a mistaken delete), and server access logs in a second
 * bucket. Creates `AccessLogs` and `Bucket` under `scope`, so the stores that own them keep stable
 * logical ids.
 */
export function createEncryptedBucket(
  scope: Construct,
  options: EncryptedBucketOptions,
): { bucket: Bucket; accessLogs: Bucket } {
  const removalPolicy = options.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
  // Server access logs cannot be delivered to a bucket encrypted with a customer-managed KMS key:
  // S3-managed.
  const accessLogs = new Bucket(scope, 'AccessLogs', {
    encryption: BucketEncryption.S3_MANAGED,
    enforceSSL: true,
    blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
    objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
    lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(365) }],
    removalPolicy,
    // CloudFormation deletes only an empty bucket (else BucketNotEmpty and a failed `cdk destroy`):
    // a bucket deleted with its stack is emptied first, every version included. A retained one
    // keeps its data.
    autoDeleteObjects: !options.retainData,
  });
  Validations.of(accessLogs).acknowledge({
    id: 'AwsSolutions::AwsSolutions-S1',
    reason: `This bucket receives the ${options.purpose} access logs; logging it into itself would loop.`,
  });
  const bucket = new Bucket(scope, 'Bucket', {
    bucketName: options.bucketName,
    encryption: BucketEncryption.KMS,
    encryptionKey: options.encryptionKey,
    // One data key per bucket instead of one KMS call per object.
    bucketKeyEnabled: true,
    enforceSSL: true,
    blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
    objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
    versioned: true,
    serverAccessLogsBucket: accessLogs,
    serverAccessLogsPrefix: options.accessLogPrefix,
    lifecycleRules: options.lifecycleRules,
    removalPolicy,
    autoDeleteObjects: !options.retainData,
  });
  return { bucket, accessLogs };
}
