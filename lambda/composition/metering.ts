import type { TierlineConfig } from '../../lib/config/schema';
import { OrganizationUsage } from '../metering/organization-usage';
import { createMetering, type MeteringParts } from '../metering/request-metering';
import type { Engines } from './engines';

/** What local mode tunes in metering; Lambda takes the defaults. */
export interface MeteringTuning {
  /** Apply each ledger write to the usage aggregates in-process (local mode has no table stream). */
  aggregateInline?: boolean;
  /** A request's maximum duration. @default 15 min */
  maxRequestMs?: number;
  /** The reconciler's margin past that duration. @default 60 s */
  reconcileMarginMs?: number;
}

/**
 * Rate limits, spend limits, the ledger, usage aggregates and the reconciler, on the metering
 * table: requests, batch lines and fine-tuning jobs are billed through these same parts.
 */
export function meteringServices(
  engines: Pick<
    Engines,
    'doc' | 'tables' | 'deadLetters' | 'alerts' | 'spendAlertMail' | 'now' | 'logError'
  >,
  config: TierlineConfig,
  tuning: MeteringTuning = {},
): MeteringParts {
  return createMetering({
    config,
    doc: engines.doc,
    tableName: engines.tables.metering,
    deadLetters: engines.deadLetters,
    alerts: engines.alerts,
    spendAlertMail: engines.spendAlertMail,
    ...tuning,
    now: engines.now,
    logError: engines.logError,
  });
}

/** Usage and costs of OpenAI's administration API, read from the ledger on the metering table. */
export function organizationUsageServices(
  engines: Pick<Engines, 'doc' | 'tables'>,
  config: TierlineConfig,
): OrganizationUsage {
  return new OrganizationUsage(
    engines.doc,
    engines.tables.metering,
    new Set(Object.keys(config.speechModels)),
  );
}
