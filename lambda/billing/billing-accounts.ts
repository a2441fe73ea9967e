import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { applied } from '../storage/conditional-writes';
import type { DocumentClient } from '../storage/document-client';
import { compare, conditionOnly, exists, notExists, or, update } from '../storage/expressions';
import { queryAll } from '../storage/query-pages';
import type { BillingAccount } from './billing-provider';

/**
 * Organizations billed through the provider, in the metering table: all in ONE partition
 * (`BILLACCT` / `<customerId>`) so the hourly sender lists them with one query. An organization
 * is in it from its upgrade (a payment method on file) on; Free organizations, and those the
 * operator bills by contract (Enterprise), are not.
 */
export interface BillingAccountRecord extends BillingAccount {
  /** ISO hour from which the organization's Developer usage is billed (its upgrade's hour). */
  billedFrom: string;
  /** The last hour (ISO start) whose usage was settled with the provider; absent before the first. */
  settledThrough?: string;
  /** pending: checkout opened, no payment method yet (nothing billed). */
  status: 'pending' | 'active' | 'cancelling' | 'closed';
  createdAt: string;
}

const PARTITION = 'BILLACCT';

export class BillingAccounts {
  constructor(
    private readonly doc: DocumentClient,
    private readonly tableName: string,
  ) {}

  /** Creates the account unless it exists (first writer wins); returns the stored one. */
  async create(account: BillingAccountRecord): Promise<BillingAccountRecord> {
    await applied(
      this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { pk: PARTITION, sk: account.customerId, ...account },
          ...conditionOnly(notExists('pk')),
        }),
      ),
    );
    const stored = await this.get(account.customerId);
    if (!stored) throw new Error(`billing account ${account.customerId} vanished after its write`);
    return stored;
  }

  async get(customerId: string): Promise<BillingAccountRecord | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: PARTITION, sk: customerId },
        ConsistentRead: true,
      }),
    );
    return Item ? strip(Item) : undefined;
  }

  list(): AsyncIterable<BillingAccountRecord> {
    return queryAll(
      this.doc,
      {
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': PARTITION },
      },
      strip,
    );
  }

  /** Moves `settledThrough` forward only (two senders at once never move it back). */
  async markSettled(customerId: string, hour: string): Promise<void> {
    await applied(
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: PARTITION, sk: customerId },
          ...update(
            { set: { settledThrough: hour } },
            or(notExists('settledThrough'), compare('settledThrough', '<', hour)),
          ),
        }),
      ),
    );
  }

  /** The payment method is on file: billing starts at `billedFrom`. */
  async activate(
    customerId: string,
    fields: Required<Pick<BillingAccountRecord, 'subscriptionId' | 'billedFrom'>>,
  ): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: PARTITION, sk: customerId },
        ...update({ set: { ...fields, status: 'active' } }, exists('pk')),
      }),
    );
  }

  async setFields(
    customerId: string,
    fields: Partial<Pick<BillingAccountRecord, 'subscriptionId' | 'status'>>,
  ): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: PARTITION, sk: customerId },
        ...update({ set: fields }, exists('pk')),
      }),
    );
  }
}

function strip(item: Record<string, unknown>): BillingAccountRecord {
  const { pk: _pk, sk: _sk, ...record } = item;
  return record as unknown as BillingAccountRecord;
}
