import { randomUUID } from 'node:crypto';
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { applied } from '../storage/conditional-writes';
import type { DocumentClient } from '../storage/document-client';
import { compare, conditionOnly, notExists, update } from '../storage/expressions';
import { queryAll } from '../storage/query-pages';
import type {
  BillingAccount,
  BillingProvider,
  CheckoutSession,
  PaymentMethodSummary,
  ProviderInvoice,
  UsageEvent,
} from './billing-provider';

/**
 * The billing provider of local mode: Stripe's part played in DynamoDB (dynalite locally), so
 * `npm start` needs no account anywhere. It keeps the same promises as Stripe where the sender
 * relies on them, and stricter ones where Stripe's are windows: a usage identifier is unique
 * forever (Stripe: at least 24 h), an invoice key too. No money moves: an invoice is `paid` when
 * it is cut (the local checkout page takes no card number).
 *
 * Items, in any table keyed by `pk`/`sk` (local mode passes the metering table; the prefix `EMB#`
 * is its own):
 * - `EMB#CUS#<providerCustomerId>` / `CUSTOMER`: the organization, the payment method's state;
 * - `EMB#CHK#<sessionId>` / `SESSION`: a checkout session and its state;
 * - `EMB#USE#<providerCustomerId>` / `<identifier>`: one usage event, `invoiceKey` once invoiced;
 * - `EMB#INV#<providerCustomerId>` / `<key>`: one invoice.
 * Listing a customer's usage reads all its events (one partition): fine for one machine's traffic.
 */
export class EmbeddedBillingProvider implements BillingProvider {
  readonly name = 'embedded';
  /** Identifiers are item keys: remembered forever. */
  readonly identifierWindowMs = undefined;
  /** The sender cuts the monthly invoice (thresholds.ts). */
  readonly invoicesMonthly = false;

  constructor(
    private readonly doc: DocumentClient,
    private readonly tableName: string,
    /** The local checkout page's base URL (local mode's console server). */
    private readonly checkoutBaseUrl: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  static customerIdOf(organization: string): string {
    return `emb_cus_${organization}`;
  }

  async createCustomer(input: { customerId: string; email?: string }): Promise<string> {
    const providerCustomerId = EmbeddedBillingProvider.customerIdOf(input.customerId);
    // Conditional: a second call for the same organization keeps the first record.
    await applied(
      this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            pk: `EMB#CUS#${providerCustomerId}`,
            sk: 'CUSTOMER',
            organization: input.customerId,
            ...(input.email ? { email: input.email } : {}),
            createdAt: this.now().toISOString(),
          },
          ...conditionOnly(notExists('pk')),
        }),
      ),
    );
    return providerCustomerId;
  }

  async startCheckout(input: {
    account: BillingAccount;
    successUrl: string;
    cancelUrl: string;
  }): Promise<CheckoutSession> {
    const id = `emb_cs_${randomUUID().replaceAll('-', '')}`;
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          pk: `EMB#CHK#${id}`,
          sk: 'SESSION',
          organization: input.account.customerId,
          providerCustomerId: input.account.providerCustomerId,
          successUrl: input.successUrl,
          cancelUrl: input.cancelUrl,
          status: 'open',
          createdAt: this.now().toISOString(),
        },
      }),
    );
    return { id, url: `${this.checkoutBaseUrl}/billing/checkout/${id}` };
  }

  /** A checkout session (the local checkout page reads it), if it exists. */
  async getCheckout(sessionId: string): Promise<
    | {
        id: string;
        organization: string;
        providerCustomerId: string;
        successUrl: string;
        cancelUrl: string;
        status: 'open' | 'complete';
      }
    | undefined
  > {
    const { Item } = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: `EMB#CHK#${sessionId}`, sk: 'SESSION' },
        ConsistentRead: true,
      }),
    );
    if (!Item) return undefined;
    return {
      id: sessionId,
      organization: Item.organization,
      providerCustomerId: Item.providerCustomerId,
      successUrl: Item.successUrl,
      cancelUrl: Item.cancelUrl,
      status: Item.status,
    };
  }

  /**
   * The local checkout page's "save": the session completes once (false when it already had) and
   * its customer has a payment method on file.
   */
  async completeCheckout(sessionId: string): Promise<boolean> {
    const session = await this.getCheckout(sessionId);
    if (!session) return false;
    const completed = await applied(
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: `EMB#CHK#${sessionId}`, sk: 'SESSION' },
          ...update(
            { set: { status: 'complete', completedAt: this.now().toISOString() } },
            compare('status', '=', 'open'),
          ),
        }),
      ),
    );
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: `EMB#CUS#${session.providerCustomerId}`, sk: 'CUSTOMER' },
        ...update({ set: { paymentMethod: 'local_test_method' } }),
      }),
    );
    return completed;
  }

  async subscribe(account: BillingAccount, _key: string): Promise<string> {
    return `emb_sub_${account.customerId}`;
  }

  async reportUsage(account: BillingAccount, event: UsageEvent): Promise<void> {
    // The identifier is the item's key: a resend finds it there and adds nothing.
    await applied(
      this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            pk: `EMB#USE#${account.providerCustomerId}`,
            sk: event.identifier,
            ...event,
            receivedAt: this.now().toISOString(),
          },
          ...conditionOnly(notExists('pk')),
        }),
      ),
    );
  }

  private usage(account: BillingAccount) {
    return queryAll(
      this.doc,
      {
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': `EMB#USE#${account.providerCustomerId}` },
        ConsistentRead: true,
      },
      (item) => item as unknown as UsageEvent & { sk: string; invoiceKey?: string },
    );
  }

  async uninvoicedMicroUsd(account: BillingAccount): Promise<number> {
    let total = 0;
    for await (const event of this.usage(account)) {
      if (event.invoiceKey === undefined) total += event.costMicroUsd;
    }
    return total;
  }

  /**
   * Marks every uninvoiced event with the key, then writes the invoice of the events that carry
   * it. A crash after some marks: the rerun marks the rest (and whatever arrived since) and then
   * writes the invoice; once the invoice exists, a rerun changes nothing.
   */
  async invoiceNow(account: BillingAccount, key: string, reason: string): Promise<void> {
    const invoiceKey = { pk: `EMB#INV#${account.providerCustomerId}`, sk: key };
    const existing = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: invoiceKey, ConsistentRead: true }),
    );
    if (existing.Item) return;
    let total = 0;
    let lines = 0;
    for await (const event of this.usage(account)) {
      if (event.invoiceKey === undefined) {
        const marked = await applied(
          this.doc.send(
            new UpdateCommand({
              TableName: this.tableName,
              Key: { pk: `EMB#USE#${account.providerCustomerId}`, sk: event.sk },
              ...update({ set: { invoiceKey: key } }, notExists('invoiceKey')),
            }),
          ),
        );
        if (!marked) continue;
      } else if (event.invoiceKey !== key) {
        continue;
      }
      total += event.costMicroUsd;
      lines += 1;
    }
    if (lines === 0) return;
    await applied(
      this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...invoiceKey,
            id: `emb_in_${randomUUID().replaceAll('-', '').slice(0, 24)}`,
            totalMicroUsd: total,
            lines,
            status: 'paid',
            reason,
            createdAt: this.now().toISOString(),
          },
          ...conditionOnly(notExists('pk')),
        }),
      ),
    );
  }

  /** The local subscription's period is the UTC calendar month: it ends at the next month's start. */
  async cancelAtPeriodEnd(account: BillingAccount): Promise<void> {
    const now = this.now();
    const periodEnd = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: `EMB#CUS#${account.providerCustomerId}`, sk: 'CUSTOMER' },
        ...update({ set: { cancelAt: periodEnd.toISOString() } }),
      }),
    );
  }

  /** When the subscription ends (set by `cancelAtPeriodEnd`), if it was asked to. */
  async cancelAt(account: BillingAccount): Promise<string | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: `EMB#CUS#${account.providerCustomerId}`, sk: 'CUSTOMER' },
        ConsistentRead: true,
      }),
    );
    return typeof Item?.cancelAt === 'string' ? Item.cancelAt : undefined;
  }

  async listInvoices(account: BillingAccount): Promise<ProviderInvoice[]> {
    const invoices: ProviderInvoice[] = [];
    for await (const item of queryAll(
      this.doc,
      {
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': `EMB#INV#${account.providerCustomerId}` },
        ConsistentRead: true,
      },
      (item) => item,
    )) {
      invoices.push({
        id: String(item.id),
        totalMicroUsd: Number(item.totalMicroUsd),
        status: 'paid',
        createdAt: String(item.createdAt),
        reason: String(item.reason),
      });
    }
    return invoices.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  /** The local checkout page saves a stand-in card: no number is ever entered locally. */
  async paymentMethod(account: BillingAccount): Promise<PaymentMethodSummary | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: `EMB#CUS#${account.providerCustomerId}`, sk: 'CUSTOMER' },
        ConsistentRead: true,
      }),
    );
    return Item?.paymentMethod ? { brand: 'test', last4: '4242' } : undefined;
  }
}
