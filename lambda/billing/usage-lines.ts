import { createHash } from 'node:crypto';
import { defaultProjectId, projectOrDefault } from '../customers/key-permissions';
import type { LedgerRecord } from '../metering/ledger';
import type { UsageKind } from './billing-provider';

/**
 * Pure helpers that turn ledger records into hourly usage lines: one line per organization,
 * project, model and kind per UTC hour (the hour the request STARTED, as the ledger's index sorts
 * them and as the month's spend counts it).
 */

/**
 * The line label of the organization's default project. Records written before projects existed
 * carry no project; later ones carry the default project's id. Both bill as `default`, so an hour
 * spanning the upgrade stays one line, and lines (and the identifiers already sent for them) keep
 * the key they had.
 */
export const DEFAULT_PROJECT = 'default';

/** The project label a record's usage is billed under. */
export function billedProjectOf(record: Pick<BilledRecord, 'customerId' | 'projectId'>): string {
  const projectId = projectOrDefault(record.customerId, record.projectId);
  return projectId === defaultProjectId(record.customerId) ? DEFAULT_PROJECT : projectId;
}

/** The ledger model of a training (fine-tuning/job-billing.ts `trainingLedgerModel`). */
const TRAINING_PREFIX = 'fine-tuning:';
/** Fine-tuned models are called as `ft:<base>:...` (OpenAI's naming, fine-tuning/model-resolver.ts). */
const FINE_TUNED_PREFIX = 'ft:';

/** A ledger record as billing reads it: a `projectId` once records carry one. */
export type BilledRecord = Pick<
  LedgerRecord,
  'requestId' | 'customerId' | 'model' | 'startedAt' | 'costMicroUsd' | 'tier'
> & { batch?: boolean; projectId?: string };

/** Training first (its model names it), then batch (its discount), then a fine-tune, else online. */
export function usageKind(record: Pick<BilledRecord, 'model' | 'batch'>): UsageKind {
  if (record.model.startsWith(TRAINING_PREFIX)) return 'training';
  if (record.batch) return 'batch';
  if (record.model.startsWith(FINE_TUNED_PREFIX)) return 'fine-tuned';
  return 'online';
}

export const HOUR_MS = 3_600_000;

/** The start of the UTC hour of an ISO timestamp, ISO. */
export function hourOf(isoTimestamp: string): string {
  const ms = Date.parse(isoTimestamp);
  return new Date(ms - (ms % HOUR_MS)).toISOString();
}

export interface UsageLine {
  projectId: string;
  model: string;
  kind: UsageKind;
  costMicroUsd: number;
  requests: number;
}

/** The key of a line within its organization and hour: also the sort key of its sent state. */
export const lineKey = (line: Pick<UsageLine, 'projectId' | 'kind' | 'model'>) =>
  `${line.projectId}#${line.kind}#${line.model}`;

/** Sums records (of one organization and hour) into lines. Exact: integer µ$. */
export function aggregateLines(records: Iterable<BilledRecord>): Map<string, UsageLine> {
  const lines = new Map<string, UsageLine>();
  for (const record of records) {
    const line: UsageLine = {
      projectId: billedProjectOf(record),
      model: record.model,
      kind: usageKind(record),
      costMicroUsd: 0,
      requests: 0,
    };
    const key = lineKey(line);
    const existing = lines.get(key) ?? line;
    existing.costMicroUsd += record.costMicroUsd;
    existing.requests += 1;
    lines.set(key, existing);
  }
  return lines;
}

/**
 * The identifier of the `seq`-th delta sent for a line: the same inputs give the same identifier,
 * so a resend after a crash is deduplicated by the provider. A hash keeps it within Stripe's 100
 * characters whatever the model's name.
 */
export function usageIdentifier(
  customerId: string,
  hour: string,
  line: Pick<UsageLine, 'projectId' | 'kind' | 'model'>,
  seq: number,
): string {
  const digest = createHash('sha256')
    .update(JSON.stringify([customerId, hour, line.projectId, line.kind, line.model, seq]))
    .digest('base64url');
  return `tlu_${digest.slice(0, 40)}`;
}
