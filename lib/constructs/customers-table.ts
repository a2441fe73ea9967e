import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { CUSTOMERS_TABLE, CUSTOMERS_TABLE_ENV } from '../../lambda/adapters/customers-table';

export interface CustomersTableProps {
  /** Keep the table and its key when the stack is deleted, and turn on deletion protection. */
  readonly retainData: boolean;
}

/** Customers and their API keys (hashes only), encrypted with a customer-managed KMS key. */
export class CustomersTable extends Construct {
  public readonly table: Table;
  public readonly encryptionKey: Key;
  public readonly partitionKey = CUSTOMERS_TABLE.partitionKey;
  public readonly sortKey = CUSTOMERS_TABLE.sortKey;
  public readonly byCreatedIndexName = CUSTOMERS_TABLE.byCreatedIndex.name;

  constructor(scope: Construct, id: string, props: CustomersTableProps) {
    super(scope, id);
    const removalPolicy = props.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    this.encryptionKey = new Key(this, 'Key', {
      description: 'Tierline customers table encryption',
      enableKeyRotation: true,
      removalPolicy,
    });

    // `Table`, not `TableV2`: TableV2 cannot render a customer-managed key in a region-agnostic stack, and
    // Tierline's stacks synthesize without an account or region.
    this.table = new Table(this, 'Table', {
      partitionKey: { name: CUSTOMERS_TABLE.partitionKey, type: AttributeType.STRING },
      sortKey: { name: CUSTOMERS_TABLE.sortKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      encryption: TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: this.encryptionKey,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: props.retainData,
      removalPolicy,
    });
    this.table.addGlobalSecondaryIndex({
      indexName: CUSTOMERS_TABLE.byCreatedIndex.name,
      partitionKey: { name: CUSTOMERS_TABLE.byCreatedIndex.partitionKey, type: AttributeType.STRING },
      sortKey: { name: CUSTOMERS_TABLE.byCreatedIndex.sortKey, type: AttributeType.STRING },
    });
  }

  /** Lets `fn` also update single items (a customer's spend limit, on its customer and key items). */
  public bindForItemUpdates(fn: LambdaFunction): void {
    this.bindForItemReads(fn);
    fn.addToRolePolicy(new PolicyStatement({ actions: ['dynamodb:UpdateItem'], resources: [this.table.tableArn] }));
    // Explicit actions on this key: `grantEncrypt` would add the wildcard families ReEncrypt* and GenerateDataKey*.
    fn.addToRolePolicy(
      new PolicyStatement({ actions: ['kms:Encrypt', 'kms:GenerateDataKey'], resources: [this.encryptionKey.keyArn] }),
    );
  }

  /** Lets `fn` read single items (key lookups, profiles) and tells it the table's name. */
  public bindForItemReads(fn: LambdaFunction): void {
    fn.addEnvironment(CUSTOMERS_TABLE_ENV, this.table.tableName);
    // GetItem on the table only: `table.grant` would add `index/*`, which item reads never need.
    fn.addToRolePolicy(new PolicyStatement({ actions: ['dynamodb:GetItem'], resources: [this.table.tableArn] }));
    this.encryptionKey.grantDecrypt(fn);
  }
}
