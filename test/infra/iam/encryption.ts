import { ACCOUNT, PARTITION, REGION, type ResolvedApp } from './resolved-app';

/** A KMS call AWS makes with the caller's credentials because the resource is encrypted with a customer key. */
export interface KmsCall {
  action: string;
  keyArn: string;
  context: Record<string, string>;
}

/**
 * Which KMS actions a call on an encrypted resource needs, from each service's documentation:
 * - DynamoDB (encryption at rest, "How Amazon DynamoDB uses AWS KMS"): with a customer managed key,
 *   DynamoDB calls kms:Decrypt with the caller's credentials to decrypt the table key for reads and
 *   writes (streams too);
 * - S3 (SSE-KMS, "Using server-side encryption with AWS KMS keys"): reading an object needs
 *   kms:Decrypt, writing one kms:GenerateDataKey, and a multipart upload both;
 * - SQS (SSE, "Key management"): a producer needs kms:GenerateDataKey and kms:Decrypt, a consumer
 *   kms:Decrypt;
 * - SNS (SSE, "Enabling compatibility between event sources and encrypted topics"): a publisher
 *   needs kms:GenerateDataKey* and kms:Decrypt. Keys managed by AWS (`alias/aws/...`) and
 *   S3-managed or SQS-managed encryption need nothing of the caller.
 */
const KMS_BY_ACTION: Record<string, string[]> = {
  's3:GetObject': ['kms:Decrypt'],
  's3:PutObject': ['kms:GenerateDataKey', 'kms:Decrypt'],
  'sqs:SendMessage': ['kms:GenerateDataKey', 'kms:Decrypt'],
  'sqs:ReceiveMessage': ['kms:Decrypt'],
  'sns:Publish': ['kms:GenerateDataKey', 'kms:Decrypt'],
};
const DYNAMODB_DATA =
  /^dynamodb:(GetItem|PutItem|UpdateItem|DeleteItem|Query|Scan|BatchGetItem|BatchWriteItem|GetRecords)$/;

/** The customer-managed keys of the app's tables, buckets, queues and topics, by the resource they encrypt. */
export class EncryptionKeys {
  private readonly byResource = new Map<string, string>();

  constructor(app: ResolvedApp) {
    const keyArn = (id: unknown): string | undefined => {
      const value = String(id);
      if (value.startsWith('alias/aws/') || value === 'undefined') return undefined;
      return value.startsWith('arn:')
        ? value
        : `arn:${PARTITION}:kms:${REGION}:${ACCOUNT}:key/${value}`;
    };
    for (const stackName of app.stackNames) {
      for (const [logicalId, resource] of Object.entries(app.template(stackName).Resources)) {
        const props = (app.resolve(stackName, resource.Properties ?? {}) ?? {}) as Record<
          string,
          unknown
        >;
        let key: string | undefined;
        let resourceArn: string | undefined;
        switch (resource.Type) {
          case 'AWS::DynamoDB::Table': {
            const sse = props.SSESpecification as
              | { SSEEnabled?: boolean; KMSMasterKeyId?: string }
              | undefined;
            key = sse?.SSEEnabled ? keyArn(sse.KMSMasterKeyId) : undefined;
            resourceArn = app.attr(stackName, logicalId, 'Arn');
            break;
          }
          case 'AWS::S3::Bucket': {
            const rules = (
              props.BucketEncryption as
                | { ServerSideEncryptionConfiguration?: unknown[] }
                | undefined
            )?.ServerSideEncryptionConfiguration as
              | {
                  ServerSideEncryptionByDefault?: {
                    SSEAlgorithm?: string;
                    KMSMasterKeyID?: string;
                  };
                }[]
              | undefined;
            const rule = rules?.[0]?.ServerSideEncryptionByDefault;
            key = rule?.SSEAlgorithm === 'aws:kms' ? keyArn(rule.KMSMasterKeyID) : undefined;
            resourceArn = app.attr(stackName, logicalId, 'Arn');
            break;
          }
          case 'AWS::SQS::Queue':
            key = props.KmsMasterKeyId ? keyArn(props.KmsMasterKeyId) : undefined;
            resourceArn = app.attr(stackName, logicalId, 'Arn');
            break;
          case 'AWS::SNS::Topic':
            key = props.KmsMasterKeyId ? keyArn(props.KmsMasterKeyId) : undefined;
            resourceArn = app.ref(stackName, logicalId);
            break;
        }
        if (key && resourceArn) this.byResource.set(resourceArn, key);
      }
    }
  }

  /** The KMS calls made on the caller's behalf when it calls `action` on `resourceArn`. */
  public kmsCalls(action: string, resourceArn: string): KmsCall[] {
    const [, , service = ''] = resourceArn.split(':');
    const owner =
      service === 's3'
        ? resourceArn.split('/')[0]
        : service === 'dynamodb'
          ? resourceArn.split('/').slice(0, 2).join('/')
          : resourceArn;
    const keyArn = owner ? this.byResource.get(owner) : undefined;
    if (!keyArn) return [];
    const viaService = `${service}.${REGION}.amazonaws.com`;
    const actions = DYNAMODB_DATA.test(action) ? ['kms:Decrypt'] : (KMS_BY_ACTION[action] ?? []);
    return actions.map((kmsAction) => ({
      action: kmsAction,
      keyArn,
      context: { 'kms:ViaService': viaService, 'kms:CallerAccount': ACCOUNT },
    }));
  }
}
