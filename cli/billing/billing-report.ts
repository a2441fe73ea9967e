import { formatUsd, MICRO_USD_PER_USD } from '../../lambda/metering/pricing';
import type { MonthReport, UsageLine } from '../../lambda/metering/usage-report';
import type { TierlineConfig, TierName } from '../../lib/config/schema';
import type { CostInputs } from '../../lib/costs/inputs';
import { MissingCostInput, usageCost } from '../../lib/costs/model';

/**
 * `tierline billing`: revenue per tier and month from the ledger (the usage aggregates the ledger
 * builds, what every invoice is cut from), beside what that usage cost to serve by `tierline
 * costs`' model (lib/costs/model.ts `usageCost`: the GPU at the inputs' utilization, and the
 * gateway: API Gateway, the authorizer, the chat function, DynamoDB, logs, X-Ray).
 */
export interface TierMonth {
  month: string;
  tier: TierName;
  requests: number;
  revenueMicroUsd: number;
  /** USD, a model estimate: undefined when a model's cost inputs are missing. */
  costUsd: number | undefined;
  /** Models whose cost the model cannot give (no throughput inputs): their cost is left out. */
  uncosted: string[];
}

export function tierMonths(
  reports: MonthReport[],
  config: TierlineConfig,
  inputs: CostInputs,
): TierMonth[] {
  const rows: TierMonth[] = [];
  for (const report of reports) {
    for (const [tier, models] of Object.entries(report.tiers) as [
      TierName,
      Record<string, UsageLine>,
    ][]) {
      let requests = 0;
      let revenue = 0;
      let cost = 0;
      const uncosted: string[] = [];
      for (const [model, line] of Object.entries(models)) {
        requests += line.requests;
        revenue += line.costMicroUsd;
        try {
          cost += usageCost(config, inputs, model, line).total;
        } catch (error) {
          if (!(error instanceof MissingCostInput)) throw error;
          uncosted.push(model);
        }
      }
      rows.push({
        month: report.month,
        tier,
        requests,
        revenueMicroUsd: revenue,
        costUsd: uncosted.length === Object.keys(models).length ? undefined : cost,
        uncosted,
      });
    }
  }
  return rows;
}

const money = (usd: number) => `$${usd.toFixed(2)}`;
const marginOf = (row: TierMonth) => {
  const revenue = row.revenueMicroUsd / MICRO_USD_PER_USD;
  if (row.costUsd === undefined || revenue === 0) return undefined;
  return ((revenue - row.costUsd) / revenue) * 100;
};

export function tierMonthsJson(rows: TierMonth[]) {
  return rows.map((row) => {
    const margin = marginOf(row);
    return {
      month: row.month,
      tier: row.tier,
      requests: row.requests,
      revenue_usd: formatUsd(row.revenueMicroUsd),
      cost_usd: row.costUsd === undefined ? null : row.costUsd.toFixed(6),
      margin_percent: margin === undefined ? null : Number(margin.toFixed(1)),
      uncosted_models: row.uncosted,
    };
  });
}

export function tierMonthsText(rows: TierMonth[]): string {
  const lines = [
    'Revenue per tier and month (the ledger) beside its cost to serve (tierline costs model)',
    `  ${'month'.padEnd(8)} ${'tier'.padEnd(11)} ${'requests'.padStart(9)} ${'revenue'.padStart(14)} ${'cost'.padStart(12)} ${'margin'.padStart(8)}`,
  ];
  for (const row of rows) {
    const margin = marginOf(row);
    lines.push(
      `  ${row.month.padEnd(8)} ${row.tier.padEnd(11)} ${String(row.requests).padStart(9)} ${`$${formatUsd(row.revenueMicroUsd)}`.padStart(14)} ${(row.costUsd === undefined ? '—' : money(row.costUsd)).padStart(12)} ${(margin === undefined ? '—' : `${margin.toFixed(1)}%`).padStart(8)}`,
    );
    if (row.uncosted.length > 0) {
      lines.push(`    no cost inputs for ${row.uncosted.join(', ')}: left out of the cost`);
    }
  }
  if (rows.length === 0) lines.push('  no usage in these months');
  return lines.join('\n');
}
