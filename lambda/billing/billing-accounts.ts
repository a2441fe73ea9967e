import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { applied } from '../storage/conditional-writes';
import type { DocumentClient } from '../storage/document-client';
import {
  and,
  compare,
  conditionOnly,
  contains,
  exists,
  ifNotExists,
  not,
  notExists,
  or,
  update,
  value,
} from '../storage/expressions';
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
  /**
   * A payment failed (the provider's `invoice.payment_failed`) at this ISO time and is not paid
   * yet: the grace state. Developer limits stay until `limitedAt`.
   */
  paymentFailedAt?: string;
  /** The unpaid invoice that opened the grace state: only its payment ends it. */
  graceInvoiceId?: string;
  /** When the grace ran out and the organization moved to Free limits (its data all kept). */
  limitedAt?: string;
  /** Total of its paid invoices in micro-USD (usage tiers), each invoice counted once. */
  paidMicroUsd?: number;
  /** ISO time of its first paid invoice. */
  firstPaidAt?: string;
  /** The invoices counted in `paidMicroUsd`: a replayed payment is not counted twice. */
  paidInvoices?: Set<string>;
  /** The usage tier whose limits were last written (its index in `billing.usageTiers`; -1: none). */
  usageTier?: number;
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

/**
 * The grace state's moves, each a conditional write that answers whether it was the one that made
 * the move: a replayed event, or two deliveries at once, find it made and send no second e-mail.
 */
export class PaymentStates {
  constructor(
    private readonly doc: DocumentClient,
    private readonly tableName: string,
  ) {}

  private move(customerId: string, fields: ReturnType<typeof update>): Promise<boolean> {
    return applied(
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: PARTITION, sk: customerId },
          ...fields,
        }),
      ),
    );
  }

  /** Opens the grace state unless it is open (a second failure of the same debt changes nothing). */
  startGrace(customerId: string, at: string, invoiceId: string | undefined): Promise<boolean> {
    return this.move(
      customerId,
      update(
        { set: { paymentFailedAt: at, ...(invoiceId ? { graceInvoiceId: invoiceId } : {}) } },
        and(exists('pk'), notExists('paymentFailedAt')),
      ),
    );
  }

  /**
   * Counts a paid invoice into the organization's total, once per invoice (the set of counted
   * invoices and the sum change in one conditional write): answers whether this call counted it.
   */
  recordPayment(
    customerId: string,
    invoiceId: string,
    amountMicroUsd: number,
    at: string,
  ): Promise<boolean> {
    return this.move(
      customerId,
      update(
        {
          set: { firstPaidAt: ifNotExists('firstPaidAt', value(at)) },
          add: { paidMicroUsd: amountMicroUsd, paidInvoices: new Set([invoiceId]) },
        },
        and(exists('pk'), not(contains('paidInvoices', invoiceId))),
      ),
    );
  }

  /** Notes the usage tier whose limits were written. */
  setUsageTier(customerId: string, index: number): Promise<boolean> {
    return this.move(customerId, update({ set: { usageTier: index } }, exists('pk')));
  }

  /** The grace ran out: marks the move to Free limits, once. */
  markLimited(customerId: string, at: string): Promise<boolean> {
    return this.move(
      customerId,
      update({ set: { limitedAt: at } }, and(exists('paymentFailedAt'), notExists('limitedAt'))),
    );
  }

  /**
   * Ends the grace state when `invoiceId` is the invoice that opened it (or none was named): the
   * payment of an older invoice, arriving late, leaves a newer debt's grace open.
   */
  endGrace(customerId: string, invoiceId: string | undefined): Promise<boolean> {
    const sameInvoice = invoiceId
      ? or(notExists('graceInvoiceId'), compare('graceInvoiceId', '=', invoiceId))
      : exists('paymentFailedAt');
    return this.move(
      customerId,
      update(
        { remove: ['paymentFailedAt', 'graceInvoiceId', 'limitedAt'] },
        and(exists('paymentFailedAt'), sameInvoice),
      ),
    );
  }
}

function strip(item: Record<string, unknown>): BillingAccountRecord {
  const { pk: _pk, sk: _sk, ...record } = item;
  return record as unknown as BillingAccountRecord;
}
