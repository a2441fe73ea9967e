import { Validations } from 'aws-cdk-lib';
import { StreamViewType, type Table } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { Key } from 'aws-cdk-lib/aws-kms';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { METERING_TABLE, METERING_TABLE_ENV } from '../../../lambda/metering/metering-table';
import { createEncryptedTable } from '../encrypted-table';

export interface MeteringTableProps {
  /** Keep the table and its key when the stack is deleted, and turn on deletion protection. */
  readonly retainData: boolean;
}

/**
 * Limit counters, monthly spend, the usage ledger (the billing truth) and usage aggregates. Its
 * stream (new images) feeds the aggregator, which recomputes the aggregates of each customer-day it
 * sees.
 */
export class MeteringTable extends Construct {
  public readonly table: Table;
  public readonly encryptionKey: Key;
  public readonly byCustomerDayIndexName = METERING_TABLE.byCustomerDayIndex.name;

  constructor(scope: Construct, id: string, props: MeteringTableProps) {
    super(scope, id);
    const { table, key } = createEncryptedTable(this, {
      purpose: 'metering',
      schema: { ...METERING_TABLE, index: METERING_TABLE.byCustomerDayIndex },
      retainData: props.retainData,
      stream: StreamViewType.NEW_IMAGE,
    });
    this.table = table;
    this.encryptionKey = key;
  }

  /**
   * Lets `fn` meter requests: counters (with the reservation records riding on their holds) and
   * spend (UpdateItem), the ledger (PutItem), header values (GetItem), usage reads (Query on the
   * table and the customer-day index); and tells it the table's name. Nothing of metering is ever
   * deleted: no DeleteItem.
   */
  public bindForMetering(fn: LambdaFunction): void {
    this.bind(fn, [
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:Query',
    ]);
  }

  /**
   * Lets `fn` bill usage (lambda/billing/usage-sender.ts): the ledger read by hour (Query on the
   * customer-day index), the billing accounts and sent states (Query, GetItem, conditional PutItem
   * and UpdateItem on the table). It never writes the ledger's records, counters or spend, but
   * shares their table: IAM cannot tell items apart without a leading-key condition per prefix.
   */
  public bindForBilling(fn: LambdaFunction): void {
    this.bind(fn, [
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:Query',
    ]);
  }

  /**
   * Lets `fn` reconcile crashed requests: find the counter items with overdue reservation records
   * (Query on the index only), read them and the spend holds (GetItem), bill (PutItem), release the
   * holds and their records and move the items in the index (UpdateItem).
   */
  public bindForReconciling(fn: LambdaFunction): void {
    fn.addEnvironment(METERING_TABLE_ENV, this.table.tableName);
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
        resources: [this.table.tableArn],
      }),
    );
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: ['dynamodb:Query'],
        resources: [`${this.table.tableArn}/index/${this.byCustomerDayIndexName}`],
      }),
    );
    this.grantKey(fn);
  }

  private bind(fn: LambdaFunction, actions: string[]): void {
    fn.addEnvironment(METERING_TABLE_ENV, this.table.tableName);
    fn.addToRolePolicy(
      new PolicyStatement({
        actions,
        resources: [
          this.table.tableArn,
          `${this.table.tableArn}/index/${this.byCustomerDayIndexName}`,
        ],
      }),
    );
    this.grantKey(fn);
  }

  private grantKey(fn: LambdaFunction): void {
    this.encryptionKey.grantEncryptDecrypt(fn);
    if (fn.role) {
      for (const action of ['kms:GenerateDataKey*', 'kms:ReEncrypt*']) {
        Validations.of(fn.role).acknowledge({
          id: `AwsSolutions::AwsSolutions-IAM5[Action::${action}]`,
          reason:
            'The KMS action families CDK grants for writing a table encrypted with a customer-managed key, ' +
            "on that one key's ARN only.",
        });
      }
    }
  }
}
