import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type Stripe from 'stripe';
import type { ModelLimits, TierModelOffer, TierName, UsageTier } from '../../lib/config/schema';
import { BadRequestError, HttpError } from '../openai/errors';
import { applied } from '../storage/conditional-writes';
import type { DocumentClient } from '../storage/document-client';
import { conditionOnly, notExists } from '../storage/expressions';
import { type BillingAccountRecord, type BillingAccounts, PaymentStates } from './billing-accounts';
import type { BillingNotices } from './billing-notices';
import { billingNotice, type NoticeKind } from './billing-notices';
import type { BillingProvider, CheckoutSession } from './billing-provider';
import { hourOf } from './usage-lines';
import {
  type Payments,
  type UsageTierView,
  usageTierIndex,
  usageTierLimits,
  usageTierView,
} from './usage-tiers';

/**
 * How the organization's tier changes. The operator CLI's `customers set-tier`
 * (cli/customers/customer-operations.ts `setTier`: the usage plan key moved, the key records and
 * the customer record updated) is the one implementation today; the composition root passes it in
 * (a concern folder cannot import the CLI).
 */
export interface TierSwitch {
  setTier(customerId: string, tier: TierName): Promise<void>;
  /** A Developer organization's per-model limits (usage tiers); false when they do not apply. */
  setUsageTierLimits?(
    customerId: string,
    limits: Record<string, ModelLimits> | undefined,
  ): Promise<boolean>;
}

export interface BillingServiceDeps {
  doc: DocumentClient;
  tableName: string;
  accounts: BillingAccounts;
  provider: BillingProvider;
  tiers: TierSwitch;
  /** The payment e-mails, and where they go (the organization's e-mail address). */
  notices?: { sender: BillingNotices; emailOf(customerId: string): Promise<string | undefined> };
  /** Days from a failed payment to Free limits (`billing.paymentGraceDays`). @default 7 */
  graceDays?: number;
  /** Usage tiers inside Developer (`billing.usageTiers`) and Developer's offers they multiply. */
  usageTiers?: { tiers: readonly UsageTier[]; developerOffers: Record<string, TierModelOffer> };
  now?: () => Date;
}

/** What a verified provider event asks for, whichever provider sent it. */
export type BillingEvent =
  | { id: string; type: 'setup_completed'; customerId: string; setupId?: string }
  | { id: string; type: 'subscription_ended'; customerId: string }
  /** An invoice's payment failed (or the subscription went past due): the grace state opens. */
  | { id: string; type: 'payment_failed'; customerId: string; invoiceId?: string }
  /** An invoice was paid: the grace state it opened ends; its amount counts for usage tiers. */
  | {
      id: string;
      type: 'invoice_paid';
      customerId: string;
      invoiceId?: string;
      amountPaidMicroUsd?: number;
    };

/**
 * Self-service upgrade and downgrade. Free -> Developer: a checkout page saves a payment method
 * (setup mode: nothing is charged); its completion, reported by the provider's webhook, starts the
 * subscription, opens the billing account (usage billed from that hour on) and switches the tier.
 * Developer -> Free: the subscription ends at the end of its period with a final invoice of the
 * usage left; its end, reported by the webhook, switches the tier back. Enterprise stays
 * operator-made.
 *
 * Events are handled idempotently by event id: every step is idempotent by itself (an existing
 * account is kept, the subscription's idempotency key is the organization's, the tier switch
 * changes nothing the second time), and the event is marked done (`BILLEVT#<id>`) after its last
 * step, so a delivery after the mark does nothing and a delivery after a crash redoes the steps.
 * Stripe delivers an event more than once and in any order.
 */
export class BillingService {
  private readonly now: () => Date;
  private readonly payments: PaymentStates;
  readonly graceDays: number;

  constructor(private readonly deps: BillingServiceDeps) {
    this.now = deps.now ?? (() => new Date());
    this.payments = new PaymentStates(deps.doc, deps.tableName);
    this.graceDays = deps.graceDays ?? 7;
  }

  async startUpgrade(
    customer: { customerId: string; tier: TierName; email?: string },
    urls: { successUrl: string; cancelUrl: string },
  ): Promise<CheckoutSession> {
    if (customer.tier === 'enterprise') {
      throw new BadRequestError(
        'Enterprise plans are set up by your operator: contact them to change your plan.',
        { code: 'plan_managed_by_operator' },
      );
    }
    const existing = await this.deps.accounts.get(customer.customerId);
    if (customer.tier === 'developer' && existing?.status === 'active') {
      throw new BadRequestError('This organization is already on the Developer plan.', {
        code: 'already_upgraded',
      });
    }
    const account =
      existing ??
      (await this.deps.accounts.create({
        customerId: customer.customerId,
        providerCustomerId: await this.deps.provider.createCustomer(customer),
        // Nothing is billed before the setup completes (`billedFrom` moves then).
        billedFrom: hourOf(this.now().toISOString()),
        status: 'pending',
        createdAt: this.now().toISOString(),
      }));
    return this.deps.provider.startCheckout({ account, ...urls });
  }

  /** Asks for the downgrade: the subscription ends at its period's end, with a final invoice. */
  async requestDowngrade(customerId: string): Promise<BillingAccountRecord> {
    const account = await this.deps.accounts.get(customerId);
    if (account?.status !== 'active') {
      throw new BadRequestError('This organization has no Developer subscription to end.', {
        code: 'not_subscribed',
      });
    }
    await this.deps.provider.cancelAtPeriodEnd(account);
    await this.deps.accounts.setFields(customerId, { status: 'cancelling' });
    return { ...account, status: 'cancelling' };
  }

  /** Handles one verified event, once per event id; false when it had been handled already. */
  async handle(event: BillingEvent): Promise<boolean> {
    const marker = { pk: `BILLEVT#${event.id}`, sk: 'EVENT' };
    const { Item } = await this.deps.doc.send(
      new GetCommand({ TableName: this.deps.tableName, Key: marker, ConsistentRead: true }),
    );
    if (Item) return false;
    const account = await this.deps.accounts.get(event.customerId);
    if (!account) {
      // An event for an organization this deployment never sent to checkout: nothing to change.
      throw new BadRequestError(`No billing account for organization ${event.customerId}.`, {
        code: 'unknown_billing_account',
      });
    }
    await this.apply(event, account);
    return applied(
      this.deps.doc.send(
        new PutCommand({
          TableName: this.deps.tableName,
          Item: { ...marker, type: event.type, handledAt: this.now().toISOString() },
          ...conditionOnly(notExists('pk')),
        }),
      ),
    );
  }

  private async apply(event: BillingEvent, account: BillingAccountRecord): Promise<void> {
    const customerId = account.customerId;
    switch (event.type) {
      case 'setup_completed': {
        const subscriptionId =
          account.subscriptionId ??
          (await this.deps.provider.subscribe(account, customerId, event.setupId));
        if (account.status !== 'active') {
          await this.deps.accounts.activate(customerId, {
            subscriptionId,
            billedFrom: hourOf(this.now().toISOString()),
          });
        }
        await this.deps.tiers.setTier(customerId, 'developer');
        // A returning organization keeps the usage tier its payments reached.
        await this.applyUsageTier(customerId, { force: true });
        return;
      }
      case 'subscription_ended':
        await this.deps.accounts.setFields(customerId, { status: 'closed' });
        await this.deps.tiers.setTier(customerId, 'free');
        return;
      case 'payment_failed':
        return this.paymentFailed(account, event.invoiceId);
      case 'invoice_paid':
        return this.invoicePaid(account, event.invoiceId, event.amountPaidMicroUsd);
    }
  }

  /** When a grace that opened at `since` runs out. */
  graceEndsAt(since: string): string {
    return new Date(Date.parse(since) + this.graceDays * 86_400_000).toISOString();
  }

  private async paymentFailed(account: BillingAccountRecord, invoiceId?: string): Promise<void> {
    // Stripe does not deliver in order: a failure reported after its invoice was paid is old news.
    if (invoiceId && (await this.invoiceWasPaid(invoiceId))) return;
    // A closed subscription owes its last invoice still, but has no Developer limits to keep.
    const at = this.now().toISOString();
    if (await this.payments.startGrace(account.customerId, at, invoiceId)) {
      await this.notify('payment_failed', account.customerId, this.graceEndsAt(at));
    }
  }

  private async invoicePaid(
    account: BillingAccountRecord,
    invoiceId?: string,
    amountPaidMicroUsd?: number,
  ): Promise<void> {
    if (invoiceId && amountPaidMicroUsd && amountPaidMicroUsd > 0) {
      await this.payments.recordPayment(
        account.customerId,
        invoiceId,
        amountPaidMicroUsd,
        this.now().toISOString(),
      );
    }
    await this.endGraceOnPayment(account, invoiceId);
    // After the grace's end, so restored Developer limits get the tier's raise too.
    await this.applyUsageTier(account.customerId, { force: true });
  }

  /**
   * Writes the limits of the usage tier the organization has reached (`billing.usageTiers`) when
   * it differs from the one last written, or always with `force` (a tier switch took them off).
   * Answers the tier's index (-1: none), or undefined when usage tiers are off or do not apply.
   */
  async applyUsageTier(
    customerId: string,
    options: { force?: boolean; account?: BillingAccountRecord } = {},
  ) {
    const config = this.deps.usageTiers;
    if (!config || config.tiers.length === 0) return undefined;
    // The hourly run passes the record its listing read; an event reads it after its own writes.
    const account = options.account ?? (await this.deps.accounts.get(customerId));
    if (!account || (account.status !== 'active' && account.status !== 'cancelling')) {
      return undefined;
    }
    if (account.limitedAt) return undefined; // on Free limits until the payment
    const index = usageTierIndex(config.tiers, account, this.now());
    if (!options.force && index === (account.usageTier ?? -1)) return index;
    const tier = config.tiers[index];
    const limits = tier ? usageTierLimits(config.developerOffers, tier.limitMultiplier) : undefined;
    if (await this.deps.tiers.setUsageTierLimits?.(customerId, limits)) {
      await this.payments.setUsageTier(customerId, index);
    }
    return index;
  }

  /** The usage tier `payments` reached and what unlocks the next (null: usage tiers are off). */
  usageTierOf(payments: Payments): UsageTierView | null {
    return usageTierView(this.deps.usageTiers?.tiers ?? [], payments, this.now());
  }

  /** Every billed organization's usage tier, again (the hourly run: days since the first payment). */
  async applyUsageTiers(): Promise<number> {
    if (!this.deps.usageTiers?.tiers.length) return 0;
    let changed = 0;
    for await (const account of this.deps.accounts.list()) {
      const before = account.usageTier ?? -1;
      const after = await this.applyUsageTier(account.customerId, { account });
      if (after !== undefined && after !== before) changed += 1;
    }
    return changed;
  }

  private async endGraceOnPayment(
    account: BillingAccountRecord,
    invoiceId?: string,
  ): Promise<void> {
    if (invoiceId) {
      await this.deps.doc.send(
        new PutCommand({
          TableName: this.deps.tableName,
          Item: { pk: `BILLINV#${invoiceId}`, sk: 'PAID', paidAt: this.now().toISOString() },
        }),
      );
    }
    const current = await this.deps.accounts.get(account.customerId);
    if (!current?.paymentFailedAt) return;
    if (invoiceId && current.graceInvoiceId && current.graceInvoiceId !== invoiceId) return;
    // Limits first, the record last: a crash between them is finished by the redelivery.
    if (current.limitedAt && current.status !== 'closed') {
      await this.deps.tiers.setTier(account.customerId, 'developer');
    }
    if (await this.payments.endGrace(account.customerId, invoiceId)) {
      await this.notify('restored', account.customerId);
    }
  }

  private async invoiceWasPaid(invoiceId: string): Promise<boolean> {
    const { Item } = await this.deps.doc.send(
      new GetCommand({
        TableName: this.deps.tableName,
        Key: { pk: `BILLINV#${invoiceId}`, sk: 'PAID' },
        ConsistentRead: true,
      }),
    );
    return Item !== undefined;
  }

  /**
   * Moves every organization whose grace ran out to Free limits (the hourly run calls it): the
   * tier first, the mark after, so a crash between them is finished by the next run; the e-mail
   * only with the mark. Answers the organizations moved.
   */
  async expireGraces(): Promise<string[]> {
    const now = this.now().getTime();
    const moved: string[] = [];
    for await (const account of this.deps.accounts.list()) {
      const since = account.paymentFailedAt;
      if (!since || account.limitedAt || account.status === 'closed') continue;
      if (Date.parse(this.graceEndsAt(since)) > now) continue;
      await this.deps.tiers.setTier(account.customerId, 'free');
      if (await this.payments.markLimited(account.customerId, new Date(now).toISOString())) {
        await this.notify('limited', account.customerId);
        moved.push(account.customerId);
      }
    }
    return moved;
  }

  private async notify(kind: NoticeKind, customerId: string, limitAt?: string): Promise<void> {
    const notices = this.deps.notices;
    const to = notices ? await notices.emailOf(customerId) : undefined;
    if (!notices || !to) return;
    await notices.sender.send(billingNotice(kind, { customerId, to, limitAt }));
  }
}

/**
 * A Stripe webhook delivery, verified by its signature (the SDK's `webhooks.constructEvent`: the
 * `Stripe-Signature` header's HMAC-SHA256 over the raw body, with a 300 s tolerance against
 * replays), and read as a {@link BillingEvent}: `checkout.session.completed` in setup mode,
 * `customer.subscription.deleted`, `invoice.payment_failed`, `invoice.paid` and a subscription
 * gone `past_due`. Other events answer undefined (acknowledged, ignored). A bad
 * signature answers 400, never 5xx: Stripe then retries, and a forger learns nothing.
 */
export function stripeBillingEvent(
  stripe: Stripe,
  rawBody: string,
  signature: string | undefined,
  secret: string,
): BillingEvent | undefined {
  let event: Stripe.Event;
  try {
    if (!signature) throw new Error('no Stripe-Signature header');
    event = stripe.webhooks.constructEvent(rawBody, signature, secret);
  } catch (error) {
    throw new HttpError(
      400,
      'invalid_request_error',
      `Webhook signature check failed: ${error instanceof Error ? error.message : String(error)}`,
      { code: 'invalid_signature' },
    );
  }
  return billingEventOf(event);
}

/** What a verified Stripe event asks for; undefined for the events billing does not act on. */
function billingEventOf(event: Stripe.Event): BillingEvent | undefined {
  if (event.type === 'checkout.session.completed' && event.data.object.mode === 'setup') {
    const session = event.data.object;
    const customerId = session.metadata?.organization;
    const setup = session.setup_intent;
    const setupId = typeof setup === 'string' ? setup : setup?.id;
    if (!customerId) return undefined;
    return { id: event.id, type: 'setup_completed', customerId, ...(setupId ? { setupId } : {}) };
  }
  if (event.type === 'customer.subscription.deleted') {
    const customerId = event.data.object.metadata?.organization;
    return customerId ? { id: event.id, type: 'subscription_ended', customerId } : undefined;
  }
  if (event.type === 'invoice.payment_failed' || event.type === 'invoice.paid') {
    const invoice = event.data.object;
    // The subscription's metadata as the invoice was made ("an immutable snapshot of the
    // subscription metadata at the time of invoice finalization", Stripe's Invoice object).
    const customerId =
      invoice.parent?.subscription_details?.metadata?.organization ??
      invoice.metadata?.organization;
    if (!customerId) return undefined;
    const ids = { id: event.id, customerId, ...(invoice.id ? { invoiceId: invoice.id } : {}) };
    if (event.type === 'invoice.payment_failed') return { ...ids, type: 'payment_failed' };
    // `amount_paid` in the invoice's currency's smallest unit: cents of USD, 10,000 µ$ each.
    const cents = invoice.amount_paid;
    return {
      ...ids,
      type: 'invoice_paid',
      ...(Number.isSafeInteger(cents) && cents > 0 ? { amountPaidMicroUsd: cents * 10_000 } : {}),
    };
  }
  if (event.type === 'customer.subscription.updated') {
    // past_due: "payment is required but cannot be paid" (Stripe's Subscription status). The
    // invoice's own events say which invoice; this one opens the grace state when those are late.
    const subscription = event.data.object;
    const customerId = subscription.metadata?.organization;
    if (subscription.status !== 'past_due' || !customerId) return undefined;
    return { id: event.id, type: 'payment_failed', customerId };
  }
  return undefined;
}
