import { type Command, InvalidArgumentError } from 'commander';
import { formatUsd } from '../../lambda/metering/pricing';
import {
  type CustomerMonthUsage,
  type MonthReport,
  monthDays,
  type UsageLine,
} from '../../lambda/metering/usage-report';
import type { CommandRunner } from '../command-runner';
import { OperatorError } from '../operator-errors';

/** Commander's parser of a `--month` value. */
export function month(value: string): string {
  try {
    monthDays(value);
  } catch {
    throw new InvalidArgumentError('must be a month YYYY-MM');
  }
  return value;
}

export const thisMonth = () => new Date().toISOString().slice(0, 7);

const usd = (microUsd: number) => `$${formatUsd(microUsd)}`;
const row = (label: string, l: UsageLine) =>
  `  ${label.padEnd(28)} ${String(l.requests).padStart(9)} ${String(l.inputTokens).padStart(12)} ${String(l.outputTokens).padStart(12)} ${usd(l.costMicroUsd).padStart(14)}`;
const header = `  ${''.padEnd(28)} ${'requests'.padStart(9)} ${'input tok'.padStart(12)} ${'output tok'.padStart(12)} ${'cost'.padStart(14)}`;

/** JSON of a usage line: amounts as exact USD strings, as the API writes them. */
const lineJson = (l: UsageLine) => ({
  requests: l.requests,
  input_tokens: l.inputTokens,
  output_tokens: l.outputTokens,
  cost_usd: formatUsd(l.costMicroUsd),
});
const linesJson = (lines: Record<string, UsageLine>) =>
  Object.fromEntries(Object.entries(lines).map(([k, l]) => [k, lineJson(l)]));

function showText(u: CustomerMonthUsage): string {
  const lines = [`${u.customerId}  ${u.name}  (${u.tier})  ${u.month}`, header];
  for (const [model, l] of Object.entries(u.models)) lines.push(row(model, l));
  lines.push(row('total', u.total));
  if (Object.keys(u.days).length > 0) {
    lines.push('  per day:');
    for (const [day, l] of Object.entries(u.days)) lines.push(row(day, l));
  }
  const limit =
    u.spend.limitMicroUsd === undefined ? 'no limit' : `limit ${usd(u.spend.limitMicroUsd)}`;
  lines.push(
    `  spend item: ${usd(u.spend.committedMicroUsd)} settled, ${usd(u.spend.reservedMicroUsd)} in flight, ${limit}`,
  );
  return lines.join('\n');
}

function reportText(r: MonthReport): string {
  const lines = [`Usage ${r.month}: ${r.customers} customers with usage`, header];
  for (const [tier, models] of Object.entries(r.tiers)) {
    for (const [model, l] of Object.entries(models ?? {})) lines.push(row(`${tier} ${model}`, l));
  }
  lines.push(row('total (revenue)', r.total));
  return lines.join('\n');
}

/** `usage show`, `usage report`, `usage reconcile`, `usage recompute`: the operator's view of billing. */
export function addBillingCommands(usage: Command, { run, print }: CommandRunner): void {
  usage
    .command('show')
    .description(
      "a customer's usage of a month per model and day, from the aggregates, and its spend item",
    )
    .argument('<customerId>')
    .option('--month <YYYY-MM>', 'the UTC month (default: this one)', month)
    .action((customerId: string, options: { month?: string }, command: Command) =>
      run(command, async (operator, json) => {
        const shown = await operator
          .usageTools()
          .reports.show(customerId, options.month ?? thisMonth());
        if (!shown) throw new OperatorError(`No customer with id ${customerId}.`, 'not_found');
        const view = {
          customer_id: shown.customerId,
          tier: shown.tier,
          month: shown.month,
          models: linesJson(shown.models),
          days: linesJson(shown.days),
          total: lineJson(shown.total),
          spend: {
            settled_usd: formatUsd(shown.spend.committedMicroUsd),
            in_flight_usd: formatUsd(shown.spend.reservedMicroUsd),
            limit_usd:
              shown.spend.limitMicroUsd === undefined ? null : formatUsd(shown.spend.limitMicroUsd),
          },
        };
        print(json, view, showText(shown));
      }),
    );

  usage
    .command('report')
    .description(
      'usage and revenue of a month per tier and model, over every customer, from the aggregates',
    )
    .option('--month <YYYY-MM>', 'the UTC month (default: this one)', month)
    .action((options: { month?: string }, command: Command) =>
      run(command, async (operator, json) => {
        const report = await operator.usageTools().reports.report(options.month ?? thisMonth());
        const tiers = Object.fromEntries(
          Object.entries(report.tiers).map(([t, m]) => [t, linesJson(m ?? {})]),
        );
        print(
          json,
          {
            month: report.month,
            customers: report.customers,
            tiers,
            total: lineJson(report.total),
          },
          reportText(report),
        );
      }),
    );

  usage
    .command('reconcile')
    .description("compare a customer's aggregates of a month with its ledger records, day by day")
    .argument('<customerId>')
    .option('--month <YYYY-MM>', 'the UTC month (default: this one)', month)
    .action((customerId: string, options: { month?: string }, command: Command) =>
      run(command, async (operator, json) => {
        const r = await operator
          .usageTools()
          .reports.reconcile(customerId, options.month ?? thisMonth());
        const view = {
          month: r.month,
          aggregates: lineJson(r.aggregates),
          ledger: lineJson(r.ledger),
          differing_days: r.differingDays,
        };
        const text = [header, row('aggregates', r.aggregates), row('ledger', r.ledger)].join('\n');
        print(
          json,
          view,
          `${text}\n${r.differingDays.length === 0 ? 'They match.' : `Differ on ${r.differingDays.join(', ')}: run "usage recompute ${customerId} <day>".`}`,
        );
        if (r.differingDays.length > 0)
          throw new OperatorError('The aggregates differ from the ledger.', 'failed');
      }),
    );

  usage
    .command('recompute')
    .description(
      "rebuild a customer-day's aggregates from the ledger (the repair; safe beside live traffic)",
    )
    .argument('<customerId>')
    .argument('<day>', 'the UTC day YYYY-MM-DD')
    .action((customerId: string, day: string, _options: unknown, command: Command) =>
      run(command, async (operator, json) => {
        if (!/^\d{4}-\d{2}-\d{2}$/.test(day))
          throw new OperatorError('day must be YYYY-MM-DD', 'invalid_input');
        const totals = await operator.usageTools().aggregates.recomputeDay(customerId, day);
        print(
          json,
          linesJson(totals),
          [header, ...Object.entries(totals).map(([m, l]) => row(m, l))].join('\n'),
        );
      }),
    );
}
