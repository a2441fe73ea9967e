import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type Stripe from 'stripe';
import type { TierName } from '../../lib/config/schema';
import { BadRequestError, HttpError } from '../openai/errors';
import { applied } from '../storage/conditional-writes';
import type { DocumentClient } from '../storage/document-client';
import { conditionOnly, notExists } from '../storage/expressions';
import type { BillingAccountRecord, BillingAccounts } from './billing-accounts';
import type { BillingProvider, CheckoutSession } from './billing-provider';
import { hourOf } from './usage-lines';

/**
 * How the organization's tier changes. The operator CLI's `customers set-tier`
 * (cli/customers/customer-operations.ts `setTier`: the usage plan key moved, the key records and
 * the customer record updated) is the one implementation today; the composition root passes it in
 * (a concern folder cannot import the CLI).
 */
export interface TierSwitch {
  setTier(customerId: string, tier: TierName): Promise<void>;
}

export interface BillingServiceDeps {
  doc: DocumentClient;
  tableName: string;
  accounts: BillingAccounts;
  provider: BillingProvider;
  tiers: TierSwitch;
  now?: () => Date;
}

/** What a verified provider event asks for, whichever provider sent it. */
export type BillingEvent =
  | { id: string; type: 'setup_completed'; customerId: string; setupId?: string }
  | { id: string; type: 'subscription_ended'; customerId: string };

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

  constructor(private readonly deps: BillingServiceDeps) {
    this.now = deps.now ?? (() => new Date());
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
    if (event.type === 'setup_completed') {
      const subscriptionId =
        account.subscriptionId ??
        (await this.deps.provider.subscribe(account, account.customerId, event.setupId));
      if (account.status !== 'active') {
        await this.deps.accounts.activate(account.customerId, {
          subscriptionId,
          billedFrom: hourOf(this.now().toISOString()),
        });
      }
      await this.deps.tiers.setTier(account.customerId, 'developer');
    } else {
      await this.deps.accounts.setFields(account.customerId, { status: 'closed' });
      await this.deps.tiers.setTier(account.customerId, 'free');
    }
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
}

/**
 * A Stripe webhook delivery, verified by its signature (the SDK's `webhooks.constructEvent`: the
 * `Stripe-Signature` header's HMAC-SHA256 over the raw body, with a 300 s tolerance against
 * replays), and read as a {@link BillingEvent}: `checkout.session.completed` in setup mode, and
 * `customer.subscription.deleted`. Other events answer undefined (acknowledged, ignored). A bad
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
  return undefined;
}
