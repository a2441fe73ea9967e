import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import type { Billing, ConsoleApi } from '../api-client';
import { formatUsd } from '../format';
import { ErrorNotice, Loading, TableScroll, useLoad } from '../ui';

const STATUS_WORDS: Record<Billing['status'], string> = {
  none: 'Free: no payment method on file.',
  pending: 'Upgrade started: no payment method saved yet.',
  active: 'Developer, pay per token.',
  cancelling: 'Developer until the end of this period, then Free (a final invoice follows).',
  closed: 'Free again: the subscription ended.',
};

const kindWords = (kind: string) =>
  ({ online: 'Requests', batch: 'Batch', 'fine-tuned': 'Fine-tuned model', training: 'Training' })[
    kind
  ] ?? kind;

const day = (iso: string) => iso.slice(0, 10);

/** A failed payment: what happens when, and what to do. */
function GraceNotice({ grace }: { grace: NonNullable<Billing['grace']> }) {
  return html`<div class="notice warning" role="alert" data-testid="grace">
    <h2>Your payment failed</h2>
    <p>
      ${
        grace.limited
          ? `The invoice is still unpaid after the grace period: your organization has Free limits since ${day(grace.limits_at)}. Nothing is deleted; Developer limits come back as soon as it is paid.`
          : `Developer limits stay until ${day(grace.limits_at)}; then your organization has Free limits until the invoice is paid. Nothing is deleted.`
      }
      Update your payment method to pay it.
    </p>
  </div>`;
}

/** Usage tiers inside Developer: the tier reached, and exactly what unlocks the next. */
function UsageTierNotice({ tier }: { tier: NonNullable<Billing['usage_tier']> }) {
  const next = tier.next;
  const days = (n: number) => `${n} day${n === 1 ? '' : 's'}`;
  return html`<div class="usage-tier" data-testid="usage-tier">
    <h2>Usage tier</h2>
    <p>${
      tier.current
        ? `${tier.current.name}: your limits are ${tier.current.limit_multiplier}× Developer's.`
        : "Developer's limits: no usage tier reached yet."
    } Paid so far: ${formatUsd(tier.paid_usd)}; ${days(tier.days_since_first_payment)} since your first payment.</p>
    ${
      next
        ? html`<p data-testid="next-usage-tier">Next: ${next.name} (${next.limit_multiplier}× limits) after ${formatUsd(next.min_paid_usd)} paid in total and ${days(next.min_days_since_first_payment)} since your first payment.</p>`
        : html`<p>This is the highest usage tier.</p>`
    }
  </div>`;
}

/**
 * The Billing page: how the organization pays (payment method, status), this month's running
 * total per model and kind from the ledger, the next invoice threshold, past invoices with their
 * pages, a failed payment's grace; and the upgrade (a page that saves a payment method) and the
 * downgrade (at the end of the period).
 */
export function BillingPage({ api }: { api: ConsoleApi }) {
  const loaded = useLoad(() => api.billing(), [api]);
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const billing = loaded.data;
  if (loaded.error) return html`<${ErrorNotice} error=${loaded.error} />`;
  if (!billing) return html`<${Loading} what="your billing" />`;

  const upgrade = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const back = `${location.origin}${location.pathname}#/billing`;
      location.assign((await api.startCheckout(back, back)).url);
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };
  const cancel = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await api.cancelSubscription();
      loaded.reload();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const subscribed = billing.status === 'active';
  return html`<section aria-labelledby="billing-title">
    <h1 id="billing-title">Billing</h1>
    <p class="lead" data-testid="billing-status">${STATUS_WORDS[billing.status]}</p>
    ${billing.grace ? html`<${GraceNotice} grace=${billing.grace} />` : null}
    ${billing.usage_tier && billing.status !== 'none' ? html`<${UsageTierNotice} tier=${billing.usage_tier} />` : null}
    <dl class="figures">
      <div><dt>Payment method</dt><dd data-testid="payment-method">${
        billing.payment_method
          ? `${billing.payment_method.brand} ending ${billing.payment_method.last4}`
          : 'None'
      }</dd></div>
      <div><dt>Running total, ${billing.month}</dt><dd data-testid="running-total" data-exact=${billing.running_total_usd}>${formatUsd(billing.running_total_usd)}</dd></div>
      <div><dt>Invoiced so far</dt><dd>${formatUsd(billing.invoiced_usd)}</dd></div>
      <div><dt>Next invoice at</dt><dd data-testid="next-threshold">${
        billing.next_threshold_usd === null
          ? 'Monthly, in arrears'
          : `${formatUsd(billing.next_threshold_usd)} invoiced in total`
      }</dd></div>
    </dl>
    ${
      billing.breakdown.length > 0
        ? html`<${TableScroll} label="This month by model and kind">
          <table>
            <caption>This month by model and kind</caption>
            <thead><tr><th scope="col">Model</th><th scope="col">Kind</th><th scope="col">Requests</th><th scope="col">Cost</th></tr></thead>
            <tbody>${billing.breakdown.map(
              (line) =>
                html`<tr><td>${line.model}</td><td>${kindWords(line.kind)}</td><td>${line.requests}</td><td title=${line.cost_usd}>${formatUsd(line.cost_usd)}</td></tr>`,
            )}</tbody>
          </table>
        </${TableScroll}>`
        : html`<p class="muted">No billed usage this month yet.</p>`
    }
    <h2>Invoices</h2>
    ${
      billing.invoices.length > 0
        ? html`<${TableScroll} label="Invoices">
          <table data-testid="invoices">
            <caption>Invoices, newest first</caption>
            <thead><tr><th scope="col">Date</th><th scope="col">Why</th><th scope="col">Total</th><th scope="col">Status</th><th scope="col">Invoice</th></tr></thead>
            <tbody>${billing.invoices.map(
              (invoice) =>
                html`<tr><td>${day(invoice.created_at)}</td><td>${invoice.reason ?? '—'}</td><td title=${invoice.total_usd}>${formatUsd(invoice.total_usd)}</td><td>${invoice.status}</td><td>${
                  invoice.hosted_url
                    ? html`<a href=${invoice.hosted_url} target="_blank" rel="noopener noreferrer">View invoice ${invoice.id}</a>`
                    : invoice.id
                }</td></tr>`,
            )}</tbody>
          </table>
        </${TableScroll}>`
        : html`<p class="muted">No invoices yet. Nothing is invoiced under $0.50.</p>`
    }
    <div class="actions">
      ${
        subscribed
          ? html`<button type="button" class="secondary" disabled=${busy} onClick=${cancel}>Downgrade to Free at the end of the period</button>`
          : billing.status === 'cancelling'
            ? null
            : html`<button type="button" disabled=${busy} onClick=${upgrade}>Upgrade to Developer (add a payment method)</button>`
      }
    </div>
    <${ErrorNotice} error=${error} />
  </section>`;
}
