import { RemovalPolicy } from 'aws-cdk-lib';
import {
  AttributeType,
  BillingMode,
  type StreamViewType,
  Table,
  TableEncryption,
} from 'aws-cdk-lib/aws-dynamodb';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';

export interface EncryptedTableOptions {
  /** What the table holds, for the key's description. */
  readonly purpose: string;
  /** Key names shared with the runtime code (`lambda/customers/customers-table.ts`, `lambda/metering/metering-table.ts`). */
  readonly schema: {
    readonly partitionKey: string;
    readonly sortKey: string;
    readonly index: {
      readonly name: string;
      readonly partitionKey: string;
      readonly sortKey: string;
    };
  };
  /** Keep the table and its key when the stack is deleted, and turn on deletion protection. */
  readonly retainData: boolean;
  /** @default no stream */
  readonly stream?: StreamViewType;
  /** The attribute (Unix seconds) past which DynamoDB deletes an item. @default no TTL */
  readonly timeToLiveAttribute?: string;
}

/**
 * A Tierline table: on demand, point-in-time recovery, a customer-managed KMS key with rotation,
 * one string-keyed index, and retention by environment. Creates `Key` and `Table` under `scope`, so
 * the constructs that own a table keep stable logical ids. `Table`, not `TableV2`: TableV2 cannot
 * render a customer-managed key in a region-agnostic stack, and Tierline's stacks synthesize
 * without an account or region.
 */
export function createEncryptedTable(
  scope: Construct,
  options: EncryptedTableOptions,
): { table: Table; key: Key } {
  const removalPolicy = options.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
  const key = new Key(scope, 'Key', {
    description: `Tierline ${options.purpose} table encryption`,
    enableKeyRotation: true,
    removalPolicy,
  });
  const { schema } = options;
  const table = new Table(scope, 'Table', {
    partitionKey: { name: schema.partitionKey, type: AttributeType.STRING },
    sortKey: { name: schema.sortKey, type: AttributeType.STRING },
    billingMode: BillingMode.PAY_PER_REQUEST,
    encryption: TableEncryption.CUSTOMER_MANAGED,
    encryptionKey: key,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    deletionProtection: options.retainData,
    stream: options.stream,
    timeToLiveAttribute: options.timeToLiveAttribute,
    removalPolicy,
  });
  table.addGlobalSecondaryIndex({
    indexName: schema.index.name,
    partitionKey: { name: schema.index.partitionKey, type: AttributeType.STRING },
    sortKey: { name: schema.index.sortKey, type: AttributeType.STRING },
  });
  return { table, key };
}
