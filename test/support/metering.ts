import type { Principal } from '../../lambda/customers/authenticate';
import type { LedgerRecord } from '../../lambda/metering/ledger';
import { createMetering, type MeteringParts } from '../../lambda/metering/request-metering';
import type { SpendAlert } from '../../lambda/metering/spend';
import type { ModelLimits, TierlineConfig } from '../../lib/config/schema';
import { type LocalDynamo, newMeteringTable } from './dynalite';

/**
 * One fixed instant, mid-minute, to meter at (`meteringOn(dynamo, config, () => MID_MINUTE)`): the
 * limiter's windows are fixed UTC minutes, days and months, and concurrent requests on the real
 * clock could straddle a window's end and all be admitted.
 */
export const MID_MINUTE = new Date('2026-12-08T10:20:30.000Z');

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

/**
 * Two developer-tier keys of organization `customerId`: project A narrowed to `rpm.project` (and
 * 1,000 a day) on `model`, B not. The organization's own limit (an operator's custom plan) is
 * `offer` with `rpm.organization`, small enough to reach.
 */
export function twoProjectKeys(
  customerId: string,
  model: string,
  offer: ModelLimits,
  rpm: { organization: number; project: number },
): { a: Principal; b: Principal } {
  const base = {
    kind: 'project_key' as const,
    customerId,
    tier: 'developer' as const,
    usageIdentifierKey: 'k',
    customModelLimits: { [model]: { ...offer, rpm: rpm.organization } },
  };
  return {
    a: {
      ...base,
      projectId: 'proj_a',
      keyId: 'key_a',
      projectModelLimits: { [model]: { rpm: rpm.project, rpd: 1_000 } },
    },
    b: { ...base, projectId: 'proj_b', keyId: 'key_b' },
  };
}
