import { type Command, InvalidArgumentError } from 'commander';
import { defaultCostInputs, parseCostInputs } from '../../lib/costs/inputs';
import type { CommandRunner } from '../command-runner';
import { month, thisMonth } from '../usage/billing-commands';
import { tierMonths, tierMonthsJson, tierMonthsText } from './billing-report';

/** The months from `from` to `to`, both included (`YYYY-MM`). */
export function monthsBetween(from: string, to: string): string[] {
  const months: string[] = [];
  const [year, m] = from.split('-').map(Number) as [number, number];
  for (let i = 0; months.length <= 120; i += 1) {
    const next = new Date(Date.UTC(year, m - 1 + i, 1)).toISOString().slice(0, 7);
    if (next > to) break;
    months.push(next);
  }
  if (months.length === 0 || months.length > 120) {
    throw new InvalidArgumentError('--from must be a month before --to, at most 120 months apart');
  }
  return months;
}

/** `tierline billing`: revenue per tier and month beside `tierline costs`' cost of that usage. */
export function addBillingReportCommand(program: Command, { run, print }: CommandRunner): void {
  program
    .command('billing')
    .description(
      'revenue per tier and month from the ledger, beside what that usage cost to serve (the `costs` model)',
    )
    .option('--from <YYYY-MM>', 'the first UTC month (default: this one)', month)
    .option('--to <YYYY-MM>', 'the last UTC month (default: this one)', month)
    .action((options: { from?: string; to?: string }, command: Command) =>
      run(command, async (operator, json) => {
        const months = monthsBetween(options.from ?? thisMonth(), options.to ?? thisMonth());
        const { reports } = operator.usageTools();
        const monthReports = [];
        for (const m of months) monthReports.push(await reports.report(m));
        const rows = tierMonths(
          monthReports,
          operator.context.deps.config,
          parseCostInputs({ ...defaultCostInputs }),
        );
        print(json, { months, rows: tierMonthsJson(rows) }, tierMonthsText(rows));
      }),
    );
}
