import type { LedgerRecord } from '../../lambda/metering/ledger';
import { createMetering, type MeteringParts } from '../../lambda/metering/request-metering';
import type { SpendAlert } from '../../lambda/metering/spend';
import type { TierlineConfig } from '../../lib/config/schema';
import { type LocalDynamo, newMeteringTable } from './dynalite';

/** Metering on a fresh dynalite table, with dead letters and spend alerts collected for assertions. */
export async function meteringOn(
  dynamo: LocalDynamo,
  config: TierlineConfig,
  now?: () => Date,
): Promise<
  MeteringParts & { tableName: string; deadLetters: LedgerRecord[]; alerts: SpendAlert[] }
> {
  const { tableName, doc } = await newMeteringTable(dynamo);
  const deadLetters: LedgerRecord[] = [];
  const alerts: SpendAlert[] = [];
  const parts = createMetering({
    config,
    doc,
    tableName,
    deadLetters: { send: async (record) => void deadLetters.push(record) },
    alerts: { publish: async (alert) => void alerts.push(alert) },
    aggregateInline: true,
    now,
  });
  return { ...parts, tableName, deadLetters, alerts };
}
