import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, type ConsoleApi, type SpendLimit } from '../api-client';
import { formatUsd, nextMonthStart, percentOf, spendMarks, spendStanding } from '../format';
import { ErrorNotice, Loading, useLoad } from '../ui';

/** Says plainly whether the limit is reached, and if not, how much is left before it is. */
function SpendStandingNotice({ spend }: { spend: SpendLimit }) {
  const standing = spendStanding(
    spend.monthly_limit_usd,
    Number(spend.spent_usd),
    Number(spend.reserved_usd),
  );
  if (standing.state === 'none') {
    return html`<p class="notice info" data-testid="spend-standing">No limit is set: requests are never refused for what they cost.</p>`;
  }
  if (standing.state === 'reached') {
    return html`<div class="notice error" data-testid="spend-standing">
      <p class="notice-title">The limit is reached: new requests are refused.</p>
      <p>${`They are accepted again on ${nextMonthStart(spend.month)} at 00:00 UTC, or as soon as you raise or remove the limit below.`}</p>
    </div>`;
  }
  return html`<p class="notice info" data-testid="spend-standing">${`${formatUsd(standing.leftUsd)} left this month before the limit is reached and requests are refused.`}</p>`;
}

/** The Spend limit page (Developer, Enterprise): set or clear the monthly limit; this month's spend against it. */
export function SpendPage({ api }: { api: ConsoleApi }) {
  const loaded = useLoad(() => api.spendLimit(), [api]);
  const [spend, setSpend] = useState<SpendLimit | undefined>();
  const [value, setValue] = useState('');
  const [error, setError] = useState<unknown>();
  const [saved, setSaved] = useState('');

  useEffect(() => {
    if (loaded.data) {
      setSpend(loaded.data);
      setValue(loaded.data.monthly_limit_usd === null ? '' : String(loaded.data.monthly_limit_usd));
    }
  }, [loaded.data]);

  if (loaded.error) {
    return html`<section aria-labelledby="spend-title">
      <h1 id="spend-title">Spend limit</h1>
      <${ErrorNotice} error=${loaded.error} />
    </section>`;
  }
  if (!spend) return html`<${Loading} what="your spend limit" />`;
  if (!spend.available) {
    return html`<section aria-labelledby="spend-title">
      <h1 id="spend-title">Spend limit</h1>
      <p class="lead">Your plan has no charges, so it needs no spend limit. Paid plans can set a monthly limit with alerts at 50, 75 and 90%: see the Plan page.</p>
    </section>`;
  }

  const save = async (limit: number | null) => {
    setError(undefined);
    setSaved('');
    try {
      const updated = await api.setSpendLimit(limit);
      setSpend(updated);
      setValue(updated.monthly_limit_usd === null ? '' : String(updated.monthly_limit_usd));
      setSaved(
        limit === null
          ? 'The spend limit is removed.'
          : `The spend limit is now ${formatUsd(limit)} a month.`,
      );
    } catch (e) {
      setError(e);
    }
  };
  const submit = (event: Event) => {
    event.preventDefault();
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < 0) {
      setError(
        new ApiError(
          400,
          'The limit must be an amount in USD.',
          'Not a valid amount',
          'Enter a number such as 50, or use "Remove limit".',
        ),
      );
      return;
    }
    void save(n);
  };

  const spent = Number(spend.spent_usd);
  const limit = spend.monthly_limit_usd;
  const marks = spendMarks(limit, spent, spend.alert_thresholds_percent);
  // A limit of $0 is reached before anything is spent: its bar is full, not empty.
  const spentPercent = limit === 0 ? 100 : limit === null ? 0 : percentOf(spent, limit);
  return html`<section aria-labelledby="spend-title">
    <h1 id="spend-title">Spend limit</h1>
    <p class="lead">
      ${
        // One string: htm drops the space between a line's last word and an expression on the next
        // line.
        `When this month's spend reaches the limit, every new request is refused with the error "Your monthly spend limit is reached" until ${nextMonthStart(spend.month)} 00:00 UTC, when the month turns over, or until you raise or remove the limit. A request that could cost more than what is left is refused too. A change applies to new requests at once; requests already running are not stopped: they finish and are billed, up to what they hold below, even past a lowered limit.`
      }
    </p>
    <${SpendStandingNotice} spend=${spend} />
    <h2>Who gets the alerts</h2>
    <p data-testid="alert-recipients">${`Alerts at ${spend.alert_thresholds_percent.map((p) => `${p}%`).join(', ')} of the limit go to your operator's notification list (the people who run this service), once each a month. They are not e-mailed to you: check this page, or ask your operator to forward them to you.`}</p>
    <dl class="figures">
      <div><dt>Spent in ${spend.month}</dt><dd data-testid="spent">${formatUsd(spend.spent_usd)}</dd></div>
      <div><dt>Held by requests in flight</dt><dd>${formatUsd(spend.reserved_usd)}</dd></div>
      <div><dt>Monthly limit</dt><dd data-testid="limit">${limit === null ? 'None' : formatUsd(limit)}</dd></div>
    </dl>
    ${
      limit !== null
        ? html`<div class="spend-bar">
          <progress max="100" value=${spentPercent} aria-label=${`${spentPercent}% of the limit spent`}></progress>
          <ul class="marks">
            ${marks.map(
              (m) => html`<li class=${m.reached ? 'reached' : ''}>
                ${m.percent}%: ${formatUsd(m.usd)} ${m.reached ? '(reached)' : ''}
              </li>`,
            )}
          </ul>
        </div>`
        : null
    }
    <form class="inline-form" onSubmit=${submit}>
      <label>Monthly limit in USD
        <input name="limit" type="number" min="0" step="0.01" inputmode="decimal" value=${value}
          onInput=${(e: Event) => setValue((e.target as HTMLInputElement).value)} /></label>
      <button type="submit">Save limit</button>
      <button type="button" class="secondary" onClick=${() => save(null)} disabled=${limit === null}>Remove limit</button>
    </form>
    <p role="status" class="saved">${saved}</p>
    <${ErrorNotice} error=${error} />
  </section>`;
}
