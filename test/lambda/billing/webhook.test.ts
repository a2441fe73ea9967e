import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import {
  APIGatewayClient,
  CreateApiKeyCommand,
  CreateUsagePlanKeyCommand,
  DeleteUsagePlanKeyCommand,
  GetApiKeysCommand,
  GetUsagePlansCommand,
} from '@aws-sdk/client-api-gateway';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import type Stripe from 'stripe';
import { Operator } from '../../../cli/operator';
import { BillingAccounts } from '../../../lambda/billing/billing-accounts';
import { mailFileNotices } from '../../../lambda/billing/billing-notices';
import type { BillingService } from '../../../lambda/billing/billing-service';
import { createStripeClient, StripeBillingProvider } from '../../../lambda/billing/stripe-provider';
import { handleStripeWebhook } from '../../../lambda/billing/webhook';
import { billingService } from '../../../lambda/composition/billing';
import type { CustomersRepository } from '../../../lambda/customers/customers-repository';
import { TierSwitch, type UsagePlanSettings } from '../../../lambda/customers/tier-switch';
import { MAIL_SEPARATOR, readLocalMail } from '../../../lambda/mail/mail-file';
import type { DocumentClient } from '../../../lambda/storage/document-client';
import { loadConfig } from '../../../lib/config/load';
import {
  type LocalDynamo,
  newCustomersTable,
  newMeteringTable,
  startDynalite,
} from '../../support/dynalite';
import { type StripeMock, startStripeMock } from '../../support/stripe-mock';

// As the functions get them: by name (the plans' ids are looked up once).
const plans: UsagePlanSettings = {
  apiId: 'api123',
  stageName: 'dev',
  usagePlanNames: { free: 'tierline-dev-free', developer: 'tierline-dev-developer' },
};
const PLAN_IDS = { free: 'up-free', developer: 'up-dev', enterprise: 'up-ent' };
const SECRET = 'whsec_tierline_test';
const DAY = 86_400_000;

/**
 * Stripe's webhook as the Lambda function runs it: signed deliveries (the SDK's
 * `generateTestHeaderString`, the scheme Stripe signs with) through `handleStripeWebhook`, the
 * billing service on dynalite, Stripe's API from stripe-mock, the tier switch of
 * lambda/customers/tier-switch.ts with API Gateway mocked (the exact key moves asserted).
 */
describe('the Stripe webhook: upgrades and failed payments', () => {
  let dynamo: LocalDynamo;
  let mock: StripeMock;
  let stripe: Stripe;
  let gateway: AwsClientStub<APIGatewayClient>;
  let repository: CustomersRepository;
  let doc: DocumentClient;
  let meteringTable: string;
  let service: BillingService;
  let mailFile: string;
  let clock: number;
  let tierSwitch: TierSwitch;
  let customersTable: string;
  let provider: StripeBillingProvider;

  beforeAll(async () => {
    dynamo = await startDynalite();
    mock = await startStripeMock();
  });
  afterAll(async () => {
    await mock?.stop();
    await dynamo?.stop();
  });

  beforeEach(async () => {
    const customers = await newCustomersTable(dynamo);
    repository = customers.repository;
    const metering = await newMeteringTable(dynamo);
    doc = metering.doc;
    meteringTable = metering.tableName;
    const apiGateway = new APIGatewayClient({ region: 'eu-west-1' });
    gateway = mockClient(apiGateway);
    gateway.on(CreateApiKeyCommand).resolves({ id: 'gwkey-1' });
    gateway.on(GetApiKeysCommand).resolves({ items: [] });
    gateway.on(CreateUsagePlanKeyCommand).resolves({});
    gateway.on(DeleteUsagePlanKeyCommand).resolves({});
    gateway.on(GetUsagePlansCommand).resolves({
      items: Object.entries(PLAN_IDS).map(([tier, id]) => ({ id, name: `tierline-dev-${tier}` })),
    });
    stripe = createStripeClient('sk_test_tierline', {
      host: mock.host,
      port: mock.port,
      protocol: 'http',
    });
    mailFile = path.join(mkdtempSync(path.join(tmpdir(), 'tierline-mail-')), 'mail.txt');
    writeFileSync(mailFile, '');
    clock = Date.parse('2026-12-07T05:20:00.000Z');
    const tiers = new TierSwitch(repository, apiGateway, plans, loadConfig({ env: 'dev' }));
    tierSwitch = tiers;
    customersTable = customers.tableName;
    provider = new StripeBillingProvider(stripe, {
      meterEventName: 'tierline_usage',
      priceId: 'price_1',
    });
    service = billingService(
      {
        doc,
        tables: { metering: meteringTable, customers: customers.tableName },
      },
      provider,
      {
        tiers: { setTier: async (id, tier) => void (await tiers.setTier(id, tier)) },
        notices: mailFileNotices(mailFile),
        graceDays: 3,
        now: () => new Date(clock),
      },
    );
    const operator = new Operator({
      customers: repository,
      apiGateway,
      settings: {
        apiId: 'api123',
        stageName: 'dev',
        usagePlanIds: PLAN_IDS,
        openAIBaseUrl: 'x',
        customersTableName: 'x',
        meteringTableName: 'x',
      },
      config: loadConfig({ env: 'dev' }),
      newCustomerId: () => 'cus_1',
    });
    await operator.createCustomer({ name: 'A', email: 'a@pay.test', tier: 'free' });
    await service.startUpgrade(
      { customerId: 'cus_1', tier: 'free' },
      { successUrl: 'https://c/ok', cancelUrl: 'https://c/' },
    );
    gateway.resetHistory();
  });
  afterEach(() => gateway.restore());

  /** A delivery as Stripe makes it: the raw JSON body and its `Stripe-Signature` header. */
  function delivery(id: string, type: string, object: object, secret = SECRET) {
    const body = JSON.stringify({ id, object: 'event', type, data: { object } });
    const signature = stripe.webhooks.generateTestHeaderString({ payload: body, secret });
    return { body, headers: { 'Stripe-Signature': signature } };
  }
  const deliver = (request: { body: string; headers: Record<string, string> }) =>
    handleStripeWebhook(request, { stripe, secret: SECRET, service });
  const setupCompleted = (id: string) =>
    delivery(id, 'checkout.session.completed', {
      object: 'checkout.session',
      mode: 'setup',
      setup_intent: 'seti_1',
      metadata: { organization: 'cus_1' },
    });
  const invoiceEvent = (id: string, type: string, invoiceId: string) =>
    delivery(id, type, {
      object: 'invoice',
      id: invoiceId,
      parent: {
        type: 'subscription_details',
        subscription_details: { metadata: { organization: 'cus_1' } },
      },
    });
  const moves = () => [
    ...gateway
      .commandCalls(DeleteUsagePlanKeyCommand)
      .map((c) => `-${c.args[0].input.usagePlanId}`),
    ...gateway
      .commandCalls(CreateUsagePlanKeyCommand)
      .map((c) => `+${c.args[0].input.usagePlanId}`),
  ];
  const tier = async () => (await repository.getCustomer('cus_1'))?.tier;
  const mail = () => readLocalMail(mailFile);
  const notices = (kind: string) => mail().filter((m) => m.reason === kind);
  const account = () => new BillingAccounts(doc, meteringTable).get('cus_1');

  it('a signed setup completion switches Free -> Developer once; a replay changes nothing', async () => {
    const first = await deliver(setupCompleted('evt_setup'));
    expect(first.statusCode).toBe(200);
    expect(JSON.parse(first.body)).toEqual({ received: true, handled: true, replay: false });
    expect(await tier()).toBe('developer');
    // The Free customer shared a pool key: the upgrade gives it a key of its own, on Developer.
    expect(gateway.commandCalls(CreateApiKeyCommand)).toHaveLength(1);
    expect(moves()).toEqual(['+up-dev']);
    expect(await account()).toMatchObject({ status: 'active', subscriptionId: expect.any(String) });

    gateway.resetHistory();
    const again = await deliver(setupCompleted('evt_setup'));
    expect(JSON.parse(again.body)).toEqual({ received: true, handled: true, replay: true });
    expect(moves()).toEqual([]);
    expect(gateway.commandCalls(CreateApiKeyCommand)).toHaveLength(0);
    // Stripe's own requests: the payment method of the setup, then the subscription, once.
    expect(
      mock.requests.filter((r) => r.path === '/v1/subscriptions').map((r) => r.idempotencyKey),
    ).toEqual(['tierline-subscribe-cus_1']);
  });

  it('refuses a bad, altered or missing signature with an OpenAI-shaped 400, and changes nothing', async () => {
    const good = setupCompleted('evt_setup');
    for (const request of [
      { ...good, headers: delivery('evt_setup', 'x', {}, 'whsec_someone_else').headers },
      { ...good, body: good.body.replace('cus_1', 'cus_2') },
      { body: good.body, headers: {} },
    ]) {
      const response = await deliver(request);
      expect(response.statusCode).toBe(400);
      expect(JSON.parse(response.body)).toMatchObject({
        error: { type: 'invalid_request_error', code: 'invalid_signature', param: null },
      });
    }
    expect(await tier()).toBe('free');
    expect(moves()).toEqual([]);
    // Events billing does not act on are acknowledged, so Stripe stops sending them.
    const other = await deliver(delivery('evt_other', 'invoice.created', { object: 'invoice' }));
    expect(other.statusCode).toBe(200);
    expect(JSON.parse(other.body)).toEqual({ received: true, handled: false });
  });

  it('failed payment: grace (one e-mail), Free limits after the grace days, Developer back when paid', async () => {
    await deliver(setupCompleted('evt_setup'));
    gateway.resetHistory();

    // The payment fails: grace, Developer limits kept, one e-mail however often it is delivered.
    const failed = invoiceEvent('evt_fail', 'invoice.payment_failed', 'in_1');
    expect((await deliver(failed)).statusCode).toBe(200);
    expect((await deliver(failed)).statusCode).toBe(200);
    // Stripe's next retry fails too: a new event, the same grace.
    await deliver(invoiceEvent('evt_fail_2', 'invoice.payment_failed', 'in_1'));
    expect(await account()).toMatchObject({
      paymentFailedAt: '2026-12-07T05:20:00.000Z',
      graceInvoiceId: 'in_1',
    });
    expect(await tier()).toBe('developer');
    expect(notices('payment_failed')).toHaveLength(1);
    const [failedMail] = readFileSync(mailFile, 'utf8').split(MAIL_SEPARATOR).slice(1);
    expect(failedMail).toContain('To: a@pay.test');
    expect(failedMail).toContain('2026-12-10T05:20:00.000Z');

    // Within the grace nothing moves; past it, Free limits, once.
    clock += 3 * DAY - 1;
    expect(await service.expireGraces()).toEqual([]);
    clock += 1;
    expect(await service.expireGraces()).toEqual(['cus_1']);
    expect(await service.expireGraces()).toEqual([]);
    expect(await tier()).toBe('free');
    expect(moves()).toEqual(['-up-dev', '+up-free']);
    expect(notices('limited')).toHaveLength(1);
    // Nothing deleted: the key still authenticates, the account is still active.
    const customer = await repository.getCustomer('cus_1');
    expect((await repository.getKey(customer?.keyHash ?? ''))?.status).toBe('active');
    expect((await account())?.status).toBe('active');

    // An older invoice's payment, arriving late, does not end this debt's grace.
    gateway.resetHistory();
    await deliver(invoiceEvent('evt_paid_0', 'invoice.paid', 'in_0'));
    expect(await tier()).toBe('free');
    expect(moves()).toEqual([]);

    // The debt is paid: Developer limits back, grace cleared, one e-mail, replays change nothing.
    const paid = invoiceEvent('evt_paid_1', 'invoice.paid', 'in_1');
    await deliver(paid);
    await deliver(paid);
    expect(await tier()).toBe('developer');
    expect(moves()).toEqual(['-up-free', '+up-dev']);
    const after = await account();
    expect(after?.paymentFailedAt).toBeUndefined();
    expect(after?.limitedAt).toBeUndefined();
    expect(notices('restored')).toHaveLength(1);

    // Stripe does not deliver in order: the failure of the invoice now paid, arriving last.
    await deliver(invoiceEvent('evt_fail_late', 'invoice.payment_failed', 'in_1'));
    expect((await account())?.paymentFailedAt).toBeUndefined();
    expect(notices('payment_failed')).toHaveLength(1);
  });

  it('a subscription gone past_due opens the grace; the invoice paid closes it', async () => {
    await deliver(setupCompleted('evt_setup'));
    await deliver(
      delivery('evt_past_due', 'customer.subscription.updated', {
        object: 'subscription',
        status: 'past_due',
        metadata: { organization: 'cus_1' },
      }),
    );
    expect((await account())?.paymentFailedAt).toBe('2026-12-07T05:20:00.000Z');
    await deliver(invoiceEvent('evt_paid', 'invoice.paid', 'in_9'));
    expect((await account())?.paymentFailedAt).toBeUndefined();
    expect(await tier()).toBe('developer');
  });

  it("usage tiers: paid invoices (each once) and days since the first payment raise the keys' limits", async () => {
    const config = loadConfig({ env: 'dev' });
    const tiered = billingService(
      { doc, tables: { metering: meteringTable, customers: customersTable } },
      provider,
      {
        tiers: { setTier: async (id, tier) => void (await tierSwitch.setTier(id, tier)) },
        graceDays: 3,
        usageTiers: {
          tiers: [
            { name: 'Tier 1', minPaidUsd: 5, minDaysSinceFirstPayment: 0, limitMultiplier: 2 },
            { name: 'Tier 2', minPaidUsd: 50, minDaysSinceFirstPayment: 7, limitMultiplier: 5 },
          ],
          developerOffers: config.tiers.developer.models,
        },
        now: () => new Date(clock),
      },
    );
    const deliverTo = (request: { body: string; headers: Record<string, string> }) =>
      handleStripeWebhook(request, { stripe, secret: SECRET, service: tiered });
    const paid = (id: string, invoiceId: string, cents: number) =>
      delivery(id, 'invoice.paid', {
        object: 'invoice',
        id: invoiceId,
        amount_paid: cents,
        parent: {
          type: 'subscription_details',
          subscription_details: { metadata: { organization: 'cus_1' } },
        },
      });
    const limitsOf = async (model: string) => {
      const customer = await repository.getCustomer('cus_1');
      return (await repository.getKey(customer?.keyHash ?? ''))?.customModelLimits?.[model];
    };
    const offer = config.tiers.developer.models['qwen3-8b'];
    if (!offer) throw new Error('qwen3-8b is not a Developer model');
    const times = (n: number) => ({
      rpm: offer.rpm * n,
      rpd: offer.rpd * n,
      tpm: offer.tpm * n,
      tpd: offer.tpd * n,
    });

    await deliverTo(setupCompleted('evt_setup'));
    expect(await limitsOf('qwen3-8b')).toBeUndefined();
    expect(tiered.usageTierOf((await account()) ?? {})).toMatchObject({
      current: null,
      next: { name: 'Tier 1', min_paid_usd: 5, min_days_since_first_payment: 0 },
      paid_usd: 0,
    });

    // $3 paid: under Tier 1. The same invoice again, in another event or a replay: counted once.
    await deliverTo(paid('evt_p1', 'in_1', 300));
    await deliverTo(paid('evt_p1', 'in_1', 300));
    await deliverTo(paid('evt_p1_again', 'in_1', 300));
    expect(await account()).toMatchObject({
      paidMicroUsd: 3_000_000,
      firstPaidAt: '2026-12-07T05:20:00.000Z',
    });
    expect(await limitsOf('qwen3-8b')).toBeUndefined();

    // $5.50 in all: Tier 1, twice Developer's limits on the key.
    await deliverTo(paid('evt_p2', 'in_2', 250));
    expect((await account())?.paidMicroUsd).toBe(5_500_000);
    expect(await limitsOf('qwen3-8b')).toEqual(times(2));
    expect((await account())?.usageTier).toBe(0);

    // $55.50, but Tier 2 also asks 7 days since the first payment: the hourly run raises it then.
    await deliverTo(paid('evt_p3', 'in_3', 5_000));
    expect(await limitsOf('qwen3-8b')).toEqual(times(2));
    clock += 7 * DAY - 1;
    expect(await tiered.applyUsageTiers()).toBe(0);
    clock += 1;
    expect(await tiered.applyUsageTiers()).toBe(1);
    expect(await tiered.applyUsageTiers()).toBe(0);
    expect(await limitsOf('qwen3-8b')).toEqual(times(5));
    expect(tiered.usageTierOf((await account()) ?? {})).toEqual({
      current: { name: 'Tier 2', limit_multiplier: 5 },
      next: null,
      paid_usd: 55.5,
      days_since_first_payment: 7,
    });

    // Back to Free (the subscription ended): the tier switch takes the raised limits off.
    await deliverTo(
      delivery('evt_end', 'customer.subscription.deleted', {
        object: 'subscription',
        metadata: { organization: 'cus_1' },
      }),
    );
    expect(await tier()).toBe('free');
    expect(await limitsOf('qwen3-8b')).toBeUndefined();
  });
});
