import { html } from 'htm/preact';
import type { ConsoleApi, ModelPlan, Plan } from '../api-client';
import { formatInteger, formatPricePerMillion, nextTier } from '../format';
import { ErrorNotice, Loading, TableScroll, useLoad } from '../ui';

/** The Plan page, shown first: the tier in large type, exact limits and prices, features, the next tier. */

function pricePair(pricing: ModelPlan['pricing'], factor: number): string {
  const { input_usd_per_million_tokens: input, output_usd_per_million_tokens: output } = pricing;
  return `${formatPricePerMillion(input * factor)} / ${formatPricePerMillion(output * factor)}`;
}

function batchPrice(m: ModelPlan, plan: Plan): string {
  if (!plan.features.batch.available) return 'Not on this plan';
  return pricePair(m.pricing, 1 - plan.features.batch.discount_percent / 100);
}

function fineTunedPrice(m: ModelPlan, plan: Plan): string {
  // The API publishes the fine-tuned price per model (null where a model cannot be fine-tuned on
  // this plan).
  if (m.fine_tuned_pricing) return pricePair(m.fine_tuned_pricing, 1);
  if (m.fine_tuned_pricing === null || !plan.features.lora_fine_tuning.available)
    return 'Not on this plan';
  return pricePair(m.pricing, 1 + plan.features.lora_fine_tuning.premium_percent / 100);
}

function LimitsTable({ plan, caption }: { plan: Plan; caption: string }) {
  const row = (m: ModelPlan) => html`<tr>
    <th scope="row">${m.display_name}<br /><code>${m.id}</code></th>
    <td>${formatInteger(m.limits.requests_per_minute)}</td>
    <td>${formatInteger(m.limits.requests_per_day)}</td>
    <td>${formatInteger(m.limits.tokens_per_minute)}</td>
    <td>${formatInteger(m.limits.tokens_per_day)}</td>
    <td>${pricePair(m.pricing, 1)}</td>
    <td>${batchPrice(m, plan)}</td>
    <td>${fineTunedPrice(m, plan)}</td>
  </tr>`;
  return html`<${TableScroll} label=${caption}>
    <table class="limits">
      <caption>${caption}</caption>
      <thead>
        <tr>
          <th scope="col">Model</th>
          <th scope="col"><abbr title="requests per minute">RPM</abbr></th>
          <th scope="col"><abbr title="requests per day">RPD</abbr></th>
          <th scope="col"><abbr title="tokens per minute">TPM</abbr></th>
          <th scope="col"><abbr title="tokens per day">TPD</abbr></th>
          <th scope="col">Price per 1M tokens, input / output</th>
          <th scope="col">Batch, input / output</th>
          <th scope="col">Fine-tuned, input / output</th>
        </tr>
      </thead>
      <tbody>${plan.models.map(row)}</tbody>
    </table>
  <//>`;
}

/** The edge throttle: the account's own, or (a pooled tier) one a group of accounts shares. */
function edgeLine(edge: Plan['edge']): string {
  const rate = `${formatInteger(edge.requests_per_second)} requests per second`;
  const burst = `bursts of ${formatInteger(edge.burst)}`;
  if (edge.shared)
    return `Up to ${rate} (${burst}) shared with other accounts of this plan; your own limits are the models' above`;
  const quota = edge.quota
    ? `, at most ${formatInteger(edge.quota.limit)} requests per ${edge.quota.period}`
    : '';
  return `Up to ${rate} per account (${burst})${quota}`;
}

function Features({ plan }: { plan: Plan }) {
  const { batch, spend_limit: spend, lora_fine_tuning: lora } = plan.features;
  return html`<ul class="features">
    <li>${batch.available ? `Batch API at ${batch.discount_percent}% off` : 'No batch API'}</li>
    <li>
      ${
        spend.available
          ? `Monthly spend limit, alerts at ${spend.alert_thresholds_percent.map((p) => `${p}%`).join(', ')}`
          : 'No charges, so no spend limit'
      }
    </li>
    <li>
      ${
        lora.available
          ? `LoRA fine-tuning${lora.premium_percent > 0 ? ` at +${lora.premium_percent}% per token` : ''}`
          : 'No fine-tuning'
      }
    </li>
    <li>
      ${edgeLine(plan.edge)}
    </li>
  </ul>`;
}

export function PlanPage({ api, tier }: { api: ConsoleApi; tier: string }) {
  const { data, error, loading } = useLoad(() => Promise.all([api.me(), api.plans()]), [api]);
  if (loading && !data) return html`<${Loading} what="your plan" />`;
  if (error || !data) return html`<${ErrorNotice} error=${error} />`;
  const [me, plans] = data;
  const plan = me.plan;
  const next = nextTier(plans.data, tier);
  return html`<section aria-labelledby="plan-title">
    <p class="eyebrow">Your plan</p>
    <h1 id="plan-title" class="tier-name">${plan.display_name}</h1>
    <p class="lead">${plan.description}</p>
    ${me.custom_plan ? html`<p class="notice info">Your account has a custom plan: the limits below are yours.</p>` : null}
    <${Features} plan=${plan} />
    <${LimitsTable} plan=${plan} caption=${`${plan.display_name}: limits and prices per model`} />
    <p class="muted">
      Limits are per model and per account, over fixed UTC minutes and days. Prices are USD per million tokens.
    </p>
    <h2>${next ? `What ${next.display_name} adds` : 'You are on the highest plan'}</h2>
    ${
      next
        ? html`<div class="compare">
          <div class="compare-column">
            <h3>${plan.display_name} (now)</h3>
            <${Features} plan=${plan} />
          </div>
          <div class="compare-column next">
            <h3>${next.display_name}</h3>
            <p>${next.description}</p>
            <${Features} plan=${next} />
          </div>
        </div>
        <${LimitsTable} plan=${next} caption=${`${next.display_name}: limits and prices per model`} />`
        : null
    }
    ${
      tier === 'free'
        ? html`<div class="upgrade" data-testid="self-service-upgrade">
          <h2>Upgrade to Developer yourself</h2>
          <p>Developer is pay per token: add a payment method on the Billing page (an owner's admin key or session) and your limits change as soon as it is saved. Usage is invoiced at $1, $10, $100, $500 and $1,000, then monthly.</p>
          <p><a class="button" href="#/billing">Go to Billing</a></p>
        </div>`
        : null
    }
    ${
      plans.upgrade
        ? html`<div class="upgrade">
          <h2>How to change your plan</h2>
          <p>${plans.upgrade.text}</p>
          ${plans.upgrade.url ? html`<p><a class="button" href=${plans.upgrade.url} rel="noopener">Upgrade</a></p>` : null}
        </div>`
        : null
    }
  </section>`;
}
