import Stripe from 'stripe';
import { BillingAccounts } from '../../../lambda/billing/billing-accounts';
import { BillingService, stripeBillingEvent } from '../../../lambda/billing/billing-service';
import { EmbeddedBillingProvider } from '../../../lambda/billing/embedded-provider';
import { HttpError } from '../../../lambda/openai/errors';
import type { TierName } from '../../../lib/config/schema';
import { type LocalDynamo, newMeteringTable, startDynalite } from '../../support/dynalite';

const NOW = new Date('2026-12-07T05:20:00.000Z');

describe('upgrade and downgrade', () => {
  let dynamo: LocalDynamo;
  beforeAll(async () => {
    dynamo = await startDynalite();
  });
  afterAll(async () => dynamo?.stop());

  async function setUp() {
    const { doc, tableName } = await newMeteringTable(dynamo);
    const provider = new EmbeddedBillingProvider(doc, tableName, 'http://127.0.0.1:1', () => NOW);
    const accounts = new BillingAccounts(doc, tableName);
    const switched: [string, TierName][] = [];
    const service = new BillingService({
      doc,
      tableName,
      accounts,
      provider,
      tiers: { setTier: async (customerId, tier) => void switched.push([customerId, tier]) },
      now: () => NOW,
    });
    return { provider, accounts, service, switched };
  }
  const urls = { successUrl: 'http://c/billing?done=1', cancelUrl: 'http://c/billing' };

  it('Free -> Developer: checkout, then the event (delivered twice) switches the tier once', async () => {
    const { provider, accounts, service, switched } = await setUp();
    const session = await service.startUpgrade({ customerId: 'cus_a', tier: 'free' }, urls);
    expect((await accounts.get('cus_a'))?.status).toBe('pending');
    expect(await provider.completeCheckout(session.id)).toBe(true);
    const event = { id: 'evt_1', type: 'setup_completed' as const, customerId: 'cus_a' };
    expect(await service.handle(event)).toBe(true);
    expect(await service.handle(event)).toBe(false);
    expect(switched).toEqual([['cus_a', 'developer']]);
    expect(await accounts.get('cus_a')).toMatchObject({
      status: 'active',
      subscriptionId: 'emb_sub_cus_a',
      billedFrom: '2026-12-07T05:00:00.000Z',
    });
    // Opening checkout again while subscribed is refused, with a 400.
    await expect(
      service.startUpgrade({ customerId: 'cus_a', tier: 'developer' }, urls),
    ).rejects.toMatchObject({ status: 400, code: 'already_upgraded' });
  });

  it('Developer -> Free at the period end; Enterprise stays with the operator', async () => {
    const { accounts, service, switched } = await setUp();
    await expect(service.requestDowngrade('cus_a')).rejects.toMatchObject({ status: 400 });
    await service.startUpgrade({ customerId: 'cus_a', tier: 'free' }, urls);
    await service.handle({ id: 'evt_1', type: 'setup_completed', customerId: 'cus_a' });
    expect((await service.requestDowngrade('cus_a')).status).toBe('cancelling');
    await service.handle({ id: 'evt_2', type: 'subscription_ended', customerId: 'cus_a' });
    expect((await accounts.get('cus_a'))?.status).toBe('closed');
    expect(switched).toEqual([
      ['cus_a', 'developer'],
      ['cus_a', 'free'],
    ]);
    await expect(
      service.startUpgrade({ customerId: 'cus_e', tier: 'enterprise' }, urls),
    ).rejects.toMatchObject({ status: 400, code: 'plan_managed_by_operator' });
    await expect(
      service.handle({ id: 'evt_3', type: 'setup_completed', customerId: 'cus_nobody' }),
    ).rejects.toMatchObject({ status: 400 });
  });
});

describe('Stripe webhook deliveries', () => {
  const stripe = new Stripe('sk_test_tierline');
  const secret = 'whsec_test_secret';
  const delivery = (event: object) => {
    const payload = JSON.stringify(event);
    return { payload, header: stripe.webhooks.generateTestHeaderString({ payload, secret }) };
  };

  it('reads a signed setup completion and a subscription end', () => {
    const setup = delivery({
      id: 'evt_setup',
      object: 'event',
      type: 'checkout.session.completed',
      data: {
        object: {
          object: 'checkout.session',
          mode: 'setup',
          setup_intent: 'seti_1',
          metadata: { organization: 'cus_a' },
        },
      },
    });
    expect(stripeBillingEvent(stripe, setup.payload, setup.header, secret)).toEqual({
      id: 'evt_setup',
      type: 'setup_completed',
      customerId: 'cus_a',
      setupId: 'seti_1',
    });
    const ended = delivery({
      id: 'evt_end',
      object: 'event',
      type: 'customer.subscription.deleted',
      data: { object: { object: 'subscription', metadata: { organization: 'cus_a' } } },
    });
    expect(stripeBillingEvent(stripe, ended.payload, ended.header, secret)).toEqual({
      id: 'evt_end',
      type: 'subscription_ended',
      customerId: 'cus_a',
    });
    const other = delivery({
      id: 'evt_x',
      object: 'event',
      type: 'invoice.created',
      data: { object: {} },
    });
    expect(stripeBillingEvent(stripe, other.payload, other.header, secret)).toBeUndefined();
  });

  it('refuses a forged, altered or unsigned delivery with a 400', () => {
    const setup = delivery({ id: 'evt_1', object: 'event', type: 'checkout.session.completed' });
    const forged = stripe.webhooks.generateTestHeaderString({
      payload: setup.payload,
      secret: 'whsec_someone_else',
    });
    for (const [payload, header] of [
      [setup.payload, forged],
      [setup.payload.replace('evt_1', 'evt_2'), setup.header],
      [setup.payload, undefined],
    ] as const) {
      let caught: unknown;
      try {
        stripeBillingEvent(stripe, payload, header, secret);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(HttpError);
      expect(caught).toMatchObject({ status: 400, code: 'invalid_signature' });
    }
  });
});
