import { BillingAccounts } from '../lambda/billing/billing-accounts';
import { type BillingNotices, mailFileNotices } from '../lambda/billing/billing-notices';
import type { BillingService, TierSwitch } from '../lambda/billing/billing-service';
import { BillingSummaries } from '../lambda/billing/billing-summary';
import { EmbeddedBillingProvider } from '../lambda/billing/embedded-provider';
import { HOUR_MS } from '../lambda/billing/usage-lines';
import { CLOSE_MARGIN_MS, type SendReport, UsageSender } from '../lambda/billing/usage-sender';
import { type BillingServiceParts, billingService } from '../lambda/composition/billing';
import type { DocumentClient } from '../lambda/storage/document-client';

/**
 * Billing in local mode: the embedded provider (invoices in the local DynamoDB), the usage sender
 * on a timer (an hourly schedule in AWS), and the local checkout page that stands in for Stripe
 * Checkout: `/billing/checkout/<session>` shows the session and a button that saves a (pretend)
 * payment method, completes the session and reports it to the billing service as Stripe's webhook
 * would. Nothing here charges anyone.
 */
export interface LocalBilling {
  provider: EmbeddedBillingProvider;
  accounts: BillingAccounts;
  sender: UsageSender;
  service: BillingService;
  /** `GET /v1/billing`'s view. */
  summaries: BillingSummaries;
  /** One sender run, then the downgrades whose period ended (their final invoice, then Free). */
  run(): Promise<SendReport>;
  /** True for the local checkout page's paths. */
  owns(pathname: string): boolean;
  fetch(request: Request): Promise<Response>;
  stop(): Promise<void>;
}

export interface LocalBillingOptions {
  doc: DocumentClient;
  tableName: string;
  /** The customers table: where the payment e-mails are addressed from. */
  customersTable: string;
  /** `billing.paymentGraceDays` of the config. */
  graceDays: number;
  /** Usage tiers inside Developer (`usageTiersOf(config)`). */
  usageTiers?: BillingServiceParts['usageTiers'];
  /** Where the payment e-mails go (the data folder's mail file); none: to the log. */
  mailFile?: string;
  /** Local mode's URL: the checkout page is served there. */
  baseUrl: string;
  tiers: TierSwitch;
  /** How often the sender runs. @default 5 min */
  intervalMs?: number;
  now?: () => Date;
  log?: (line: string) => void;
}

const CHECKOUT_PATH = /^\/billing\/checkout\/(emb_cs_[0-9a-f]{32})$/;

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const page = (status: number, body: string) =>
  new Response(
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Tierline checkout (local)</title></head><body><main>${body}</main></body></html>`,
    { status, headers: { 'content-type': 'text/html; charset=utf-8' } },
  );

/** Local mode's billing services, wired in one place (the composition root calls this once). */
export function localBillingServices(options: LocalBillingOptions): LocalBilling {
  const now = options.now ?? (() => new Date());
  const provider = new EmbeddedBillingProvider(
    options.doc,
    options.tableName,
    options.baseUrl,
    now,
  );
  const accounts = new BillingAccounts(options.doc, options.tableName);
  const sender = new UsageSender(options.doc, options.tableName, accounts, provider, { now });
  const notices: BillingNotices = options.mailFile
    ? mailFileNotices(options.mailFile)
    : { send: async (notice) => options.log?.(`billing e-mail: ${JSON.stringify(notice)}`) };
  const service = billingService(
    {
      doc: options.doc,
      tables: { metering: options.tableName, customers: options.customersTable },
    },
    provider,
    {
      tiers: options.tiers,
      notices,
      graceDays: options.graceDays,
      usageTiers: options.usageTiers,
      now,
    },
  );
  const summaries = new BillingSummaries({
    doc: options.doc,
    tableName: options.tableName,
    accounts,
    provider,
    service,
    now,
  });

  let running: Promise<SendReport | undefined> = Promise.resolve(undefined);
  const run = async () => {
    const report = await sender.run();
    await endPeriods({ accounts, provider, service, now });
    await service.expireGraces();
    if (options.usageTiers?.tiers.length) await reportPaidInvoices({ accounts, provider, service });
    await service.applyUsageTiers();
    for (const difference of report.differences) {
      options.log?.(
        `billing: usage reached the ledger after its hour closed: ${JSON.stringify(difference)}`,
      );
    }
    for (const stale of report.stale) {
      options.log?.(
        `billing: a usage event is pending past the provider's window: ${JSON.stringify(stale)}`,
      );
    }
    return report;
  };
  const tick = () => {
    running = running.then(run).catch((error: unknown) => {
      options.log?.(`billing run failed: ${String((error as Error)?.stack ?? error)}`);
      return undefined;
    });
  };
  const timer = setInterval(tick, options.intervalMs ?? 5 * 60_000);
  timer.unref();

  async function fetch(request: Request): Promise<Response> {
    const match = CHECKOUT_PATH.exec(new URL(request.url).pathname);
    const session = match?.[1] ? await provider.getCheckout(match[1]) : undefined;
    if (!session) return page(404, '<h1>No such checkout session</h1>');
    if (request.method === 'POST') {
      await provider.completeCheckout(session.id);
      await service.handle({
        id: `local-setup-${session.id}`,
        type: 'setup_completed',
        customerId: session.organization,
      });
      return new Response(null, { status: 303, headers: { location: session.successUrl } });
    }
    if (request.method !== 'GET') return page(405, '<h1>Method not allowed</h1>');
    if (session.status === 'complete') {
      return page(
        200,
        `<h1>Payment method saved</h1><p><a href="${escapeHtml(session.successUrl)}">Back</a></p>`,
      );
    }
    return page(
      200,
      `<h1>Upgrade to Developer</h1>
<p>Organization <code>${escapeHtml(session.organization)}</code>. Local mode takes no card: saving
stands in for Stripe Checkout in setup mode. Usage is billed from now on, pay per token.</p>
<form method="post"><button type="submit">Save payment method</button></form>
<p><a href="${escapeHtml(session.cancelUrl)}">Cancel</a></p>`,
    );
  }

  return {
    provider,
    accounts,
    sender,
    service,
    summaries,
    run,
    owns: (pathname) => pathname.startsWith('/billing/checkout/'),
    fetch,
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}

/**
 * The embedded provider's invoices are paid when cut (no money moves): each is reported to the
 * service once, as Stripe's `invoice.paid` webhook reports a paid one, so usage tiers count it.
 */
async function reportPaidInvoices(parts: {
  accounts: BillingAccounts;
  provider: EmbeddedBillingProvider;
  service: BillingService;
}): Promise<void> {
  const { accounts, provider, service } = parts;
  for await (const account of accounts.list()) {
    for (const invoice of await provider.listInvoices(account)) {
      if (invoice.status !== 'paid') continue;
      await service.handle({
        id: `local-paid-${invoice.id}`,
        type: 'invoice_paid',
        customerId: account.customerId,
        invoiceId: invoice.id,
        amountPaidMicroUsd: invoice.totalMicroUsd,
      });
    }
  }
}

/**
 * The downgrades whose period ended: once the period's last hour is settled, the final invoice of
 * what is left (none under Stripe's $0.50 minimum), then the move to Free.
 */
async function endPeriods(parts: {
  accounts: BillingAccounts;
  provider: EmbeddedBillingProvider;
  service: BillingService;
  now: () => Date;
}): Promise<void> {
  const { accounts, provider, service, now } = parts;
  for await (const account of accounts.list()) {
    if (account.status !== 'cancelling') continue;
    const cancelAt = await provider.cancelAt(account);
    // The period's last hour must be settled first: it closes CLOSE_MARGIN_MS after its end.
    if (!cancelAt || now().getTime() < Date.parse(cancelAt) + CLOSE_MARGIN_MS + HOUR_MS) continue;
    // ...and settled: a sender catching up settles at most 48 hours a run.
    const lastHour = new Date(Date.parse(cancelAt) - HOUR_MS).toISOString();
    const settledThrough = (await accounts.get(account.customerId))?.settledThrough;
    if (!settledThrough || settledThrough < lastHour) continue;
    // The final invoice: what is left, unless under Stripe's $0.50 minimum (thresholds.ts).
    if ((await provider.uninvoicedMicroUsd(account)) >= 500_000) {
      await provider.invoiceNow(account, `${account.customerId}-final-${cancelAt}`, 'final');
    }
    await service.handle({
      id: `local-end-${account.customerId}-${cancelAt}`,
      type: 'subscription_ended',
      customerId: account.customerId,
    });
  }
}
