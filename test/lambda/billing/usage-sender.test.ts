import { BillingAccounts } from '../../../lambda/billing/billing-accounts';
import type {
  BillingAccount,
  BillingProvider,
  UsageEvent,
} from '../../../lambda/billing/billing-provider';
import { EmbeddedBillingProvider } from '../../../lambda/billing/embedded-provider';
import { usageKind } from '../../../lambda/billing/usage-lines';
import { UsageSender } from '../../../lambda/billing/usage-sender';
import {
  type LedgerRecord,
  LedgerWriter,
  ledgerRecord,
  replayDeadLetters,
} from '../../../lambda/metering/ledger';
import { type LocalDynamo, newMeteringTable, startDynalite } from '../../support/dynalite';

const DAY = '2026-12-06';
const NOW = new Date('2026-12-07T02:00:00.000Z');
const MODELS = [
  'llama-3.1-8b-instant',
  'llama-3.3-70b-versatile',
  'ft:llama-3.1-8b-instant:cus_a:support',
  'fine-tuning:llama-3.1-8b-instant',
];

/** A deterministic pseudo-random sequence (mulberry32): the same day every run. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A day of ledger records: two organizations, four models, two projects, every kind, some Free. */
function dayOfLedger(count: number): (LedgerRecord & { projectId?: string })[] {
  const next = random(23);
  const records: (LedgerRecord & { projectId?: string })[] = [];
  for (let i = 0; i < count; i += 1) {
    const startedAt = new Date(
      Date.parse(`${DAY}T00:00:00.000Z`) + Math.floor(next() * 86_400_000),
    );
    const model = MODELS[Math.floor(next() * MODELS.length)] ?? 'llama-3.1-8b-instant';
    const record = ledgerRecord({
      requestId: `req-${i}`,
      customerId: next() < 0.85 ? 'cus_a' : 'cus_b',
      model,
      tier: next() < 0.95 ? 'developer' : 'free',
      inputTokens: Math.floor(next() * 4000),
      outputTokens: Math.floor(next() * 1000),
      prices: { inputMicroUsdPerMillion: 59_000_000, outputMicroUsdPerMillion: 79_000_000 },
      status: 'completed',
      startedAt: startedAt.toISOString(),
      finishedAt: new Date(startedAt.getTime() + 2000).toISOString(),
      ...(next() < 0.2 ? { batch: true, discountPercent: 50 } : {}),
    });
    records.push(next() < 0.3 ? { ...record, projectId: 'proj_b' } : record);
  }
  return records;
}

const billedTotal = (records: LedgerRecord[]) =>
  records
    .filter((record) => record.customerId === 'cus_a' && record.tier === 'developer')
    .reduce((sum, record) => sum + record.costMicroUsd, 0);

/** A provider whose process "dies" (throws, and the run with it) at the n-th usage report. */
class DyingProvider implements BillingProvider {
  readonly name = 'embedded';
  readonly identifierWindowMs = undefined;
  readonly invoicesMonthly = false;
  private reports = 0;
  constructor(
    private readonly inner: EmbeddedBillingProvider,
    private readonly dieAt: number,
    /** Dies after the provider took the event (before the commit) or before it reached it. */
    private readonly when: 'after_send' | 'before_send',
  ) {}
  createCustomer = (input: { customerId: string }) => this.inner.createCustomer(input);
  startCheckout = (input: Parameters<BillingProvider['startCheckout']>[0]) =>
    this.inner.startCheckout(input);
  subscribe = (account: BillingAccount, key: string) => this.inner.subscribe(account, key);
  uninvoicedMicroUsd = (account: BillingAccount) => this.inner.uninvoicedMicroUsd(account);
  invoiceNow = (account: BillingAccount, key: string, reason: string) =>
    this.inner.invoiceNow(account, key, reason);
  cancelAtPeriodEnd = (account: BillingAccount) => this.inner.cancelAtPeriodEnd(account);
  listInvoices = (account: BillingAccount) => this.inner.listInvoices(account);
  paymentMethod = (account: BillingAccount) => this.inner.paymentMethod(account);
  async reportUsage(account: BillingAccount, event: UsageEvent): Promise<void> {
    this.reports += 1;
    if (this.reports === this.dieAt && this.when === 'before_send') throw new Error('killed');
    await this.inner.reportUsage(account, event);
    if (this.reports === this.dieAt) throw new Error('killed');
  }
}

describe('usage to the billing provider, exactly once', () => {
  let dynamo: LocalDynamo;
  beforeAll(async () => {
    dynamo = await startDynalite();
  });
  afterAll(async () => dynamo?.stop());

  async function setUp() {
    const { doc, tableName } = await newMeteringTable(dynamo);
    const provider = new EmbeddedBillingProvider(doc, tableName, 'http://127.0.0.1:1', () => NOW);
    const accounts = new BillingAccounts(doc, tableName);
    const providerCustomerId = await provider.createCustomer({ customerId: 'cus_a' });
    const account = await accounts.create({
      customerId: 'cus_a',
      providerCustomerId,
      subscriptionId: await provider.subscribe(
        { customerId: 'cus_a', providerCustomerId },
        'cus_a',
      ),
      billedFrom: `${DAY}T00:00:00.000Z`,
      status: 'active',
      createdAt: `${DAY}T00:00:00.000Z`,
    });
    const deadLetters: LedgerRecord[] = [];
    const writer = new LedgerWriter(doc, tableName, {
      send: async (record) => void deadLetters.push(record),
    });
    const sender = (p: BillingProvider = provider, reconcileHours = 48) =>
      new UsageSender(doc, tableName, accounts, p, { now: () => NOW, reconcileHours });
    return { doc, tableName, provider, accounts, account, writer, sender };
  }

  it('replays the day twice, dies mid-hour twice, replays dead letters: invoiced = ledger to the µ$', async () => {
    const { provider, account, writer, sender } = await setUp();
    const day = dayOfLedger(500);
    // One record in ten never reached the table: it waits in the dead letters.
    const late = day.filter((_, i) => i % 10 === 3);
    const onTime = day.filter((_, i) => i % 10 !== 3);
    for (let replay = 0; replay < 2; replay += 1) {
      for (const record of onTime) await writer.write(record);
    }

    // The sender dies after the provider took an event (before its commit), then before one.
    await expect(sender(new DyingProvider(provider, 37, 'after_send')).run()).rejects.toThrow(
      'killed',
    );
    await expect(sender(new DyingProvider(provider, 5, 'before_send')).run()).rejects.toThrow(
      'killed',
    );
    const first = await sender().run();
    expect(first.differences).toEqual([]);
    expect(first.stale).toEqual([]);
    const sentOnTime = billedTotal(onTime);
    const invoicedSoFar = (await provider.listInvoices(account)).reduce(
      (sum, invoice) => sum + invoice.totalMicroUsd,
      0,
    );
    expect(invoicedSoFar + (await provider.uninvoicedMicroUsd(account))).toBe(sentOnTime);

    // The dead letters are replayed into the ledger: records of hours already settled.
    const replayed = await replayDeadLetters(late, writer);
    expect(replayed).toEqual({ written: late.length, duplicate: 0, failed: [] });
    const second = await sender().run();
    const missing = second.differences.reduce((sum, d) => sum + d.missingMicroUsd, 0);
    expect(missing).toBe(billedTotal(late));
    expect(second.differences.every((d) => d.customerId === 'cus_a')).toBe(true);

    // Nothing left to send, however often it runs; replaying the whole day again changes nothing.
    for (const record of day) expect(await writer.write(record)).toBe('duplicate');
    const third = await sender().run();
    expect(third).toMatchObject({ sentMicroUsd: 0, events: 0, differences: [] });

    // The final invoice: everything the provider holds is invoiced, equal to the ledger's total.
    await provider.invoiceNow(account, 'cus_a-final', 'final');
    const invoices = await provider.listInvoices(account);
    const invoiced = invoices.reduce((sum, invoice) => sum + invoice.totalMicroUsd, 0);
    expect(invoiced).toBe(billedTotal(day));
    expect(await provider.uninvoicedMicroUsd(account)).toBe(0);
    // The first progressive threshold ($1) cut its invoice on the way, the final one the rest.
    expect(invoices.map((invoice) => invoice.reason).sort()).toEqual(['final', 'threshold:1']);
    // Every kind went out (the training, a batch, a fine-tune, online).
    expect(new Set(day.map(usageKind))).toEqual(
      new Set(['online', 'batch', 'fine-tuned', 'training']),
    );
  }, 240_000);

  it('two senders at once send each delta once', async () => {
    const { provider, account, writer, sender } = await setUp();
    const day = dayOfLedger(300);
    for (const record of day) await writer.write(record);
    await Promise.all([sender().run(), sender().run(), sender().run()]);
    const invoiced = (await provider.listInvoices(account)).reduce(
      (sum, invoice) => sum + invoice.totalMicroUsd,
      0,
    );
    expect(invoiced + (await provider.uninvoicedMicroUsd(account))).toBe(billedTotal(day));
  }, 120_000);

  it('leaves a pending event older than the provider remembers identifiers for an operator', async () => {
    const { provider, writer, sender, doc, tableName, accounts } = await setUp();
    for (const record of dayOfLedger(50)) await writer.write(record);
    const forgetful = new DyingProvider(provider, 1, 'before_send');
    await expect(sender(forgetful).run()).rejects.toThrow('killed');
    // Two days later, against a provider that forgets identifiers after 24 h (as Stripe may):
    const later = new Date(NOW.getTime() + 48 * 3_600_000);
    const windowed = Object.assign(Object.create(provider) as EmbeddedBillingProvider, {
      identifierWindowMs: 24 * 3_600_000,
    });
    const report = await new UsageSender(doc, tableName, accounts, windowed, {
      now: () => later,
    }).run();
    expect(report.stale).toHaveLength(1);
    expect(report.stale[0]).toMatchObject({ customerId: 'cus_a', pendingSince: NOW.toISOString() });
  });

  it('bills a training dated days before it was written: the daily deep pass finds it', async () => {
    const { provider, account, writer, sender, doc, tableName, accounts } = await setUp();
    for (const record of dayOfLedger(40)) await writer.write(record);
    await sender().run();
    // A training created at the day's start, billed (written) three days later.
    const training = ledgerRecord({
      requestId: 'ftjob-1:training',
      customerId: 'cus_a',
      model: 'fine-tuning:llama-3.1-8b-instant',
      tier: 'developer',
      inputTokens: 1_000_000,
      outputTokens: 0,
      prices: { inputMicroUsdPerMillion: 3_000_000, outputMicroUsdPerMillion: 0 },
      status: 'completed',
      startedAt: `${DAY}T00:30:00.000Z`,
      finishedAt: '2026-12-09T10:00:00.000Z',
    });
    await writer.write(training);
    const at = (iso: string) =>
      new UsageSender(doc, tableName, accounts, provider, { now: () => new Date(iso) });
    // An ordinary run rereads only the last 24 settled hours: the day's first hours are older.
    const ordinary = await at('2026-12-09T11:00:00.000Z').run();
    expect(ordinary.differences).toEqual([]);
    const deep = await at('2026-12-10T03:25:00.000Z').run();
    expect(deep.differences).toEqual([
      expect.objectContaining({ hour: `${DAY}T00:00:00.000Z`, missingMicroUsd: 3_000_000 }),
    ]);
    const invoiced = (await provider.listInvoices(account)).reduce(
      (sum, invoice) => sum + invoice.totalMicroUsd,
      0,
    );
    expect(invoiced + (await provider.uninvoicedMicroUsd(account))).toBe(
      billedTotal([...dayOfLedger(40), training]),
    );
  }, 120_000);
});
