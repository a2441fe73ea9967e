import type { Batch, BatchStatus, FineTuningJob, ModelEntry, ModelPlan, Plan } from './api-client';
import { formatInteger, formatUsd } from './format';

/**
 * Formatting of the Batches and Fine-tuning pages: statuses in words, request counts, which tier
 * has a feature. Pure functions (no DOM), unit-tested in test/console/.
 */

const BATCH_STATUS_WORDS: Record<BatchStatus, string> = {
  validating: 'Validating',
  failed: 'Failed',
  in_progress: 'In progress',
  finalizing: 'Finalizing',
  completed: 'Completed',
  expired: 'Expired',
  cancelling: 'Cancelling',
  cancelled: 'Cancelled',
};

export function batchStatusWords(status: string): string {
  return BATCH_STATUS_WORDS[status as BatchStatus] ?? status;
}

/** Statuses a batch can still leave: the page keeps polling while one is shown. */
export function isBatchActive(status: string): boolean {
  return (
    status === 'validating' ||
    status === 'in_progress' ||
    status === 'finalizing' ||
    status === 'cancelling'
  );
}

/** Statuses from which a cancel is accepted (OpenAI: validating, in progress, finalizing). */
export function isBatchCancellable(status: string): boolean {
  return status === 'validating' || status === 'in_progress' || status === 'finalizing';
}

/** `7 of 10 done, 1 failed`: completed and failed lines against the total. */
export function batchProgress(counts: Batch['request_counts']): string {
  const done = `${formatInteger(counts.completed)} of ${formatInteger(counts.total)} done`;
  return counts.failed > 0 ? `${done}, ${formatInteger(counts.failed)} failed` : done;
}

/** When a batch ended, whichever way it ended; undefined while it runs. */
export function batchEndedAt(batch: Batch): number | undefined {
  return batch.completed_at ?? batch.failed_at ?? batch.expired_at ?? batch.cancelled_at;
}

/** A file name for a downloaded batch file: `batch_abc-output.jsonl`. */
export function batchFileName(batchId: string, which: 'output' | 'error'): string {
  return `${batchId}-${which}.jsonl`;
}

/** `Developer and Enterprise`: the display names of the tiers that have a feature, in the published order. */
export function tiersWith<T extends { display_name: string }>(
  plans: T[],
  has: (plan: T) => boolean,
): string {
  const names = plans.filter(has).map((p) => p.display_name);
  if (names.length <= 1) return names[0] ?? '';
  return `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
}

const JOB_STATUS_WORDS: Record<FineTuningJob['status'], string> = {
  validating_files: 'Validating files',
  queued: 'Queued',
  running: 'Running',
  succeeded: 'Succeeded',
  failed: 'Failed',
  cancelled: 'Cancelled',
};

export function jobStatusWords(status: string): string {
  return JOB_STATUS_WORDS[status as FineTuningJob['status']] ?? status;
}

export function isJobActive(status: string): boolean {
  return status === 'validating_files' || status === 'queued' || status === 'running';
}

/** Trained tokens exactly (`1,204,000`), or a dash while the job has not trained. */
export function formatTrainedTokens(tokens: number | null | undefined): string {
  return typeof tokens === 'number' && Number.isFinite(tokens) ? formatInteger(tokens) : '—';
}

/** Tierline's `estimated_cost_usd` (a decimal string or a number), or a dash where there is none. */
export function formatEstimatedCost(cost: string | number | null | undefined): string {
  return cost === null || cost === undefined ? '—' : formatUsd(cost);
}

/** A failed job's reason in one line. */
export function jobErrorText(job: Pick<FineTuningJob, 'error'>): string | undefined {
  const message = job.error?.message;
  if (!message) return undefined;
  return job.error?.code ? `${message} (${job.error.code})` : message;
}

/** The customer's fine-tuned models among `/v1/models`: ids that start with `ft:`, newest first. */
export function fineTunedModels(models: ModelEntry[]): ModelEntry[] {
  return models.filter((m) => m.id.startsWith('ft:')).sort((a, b) => b.created - a.created);
}

/** The base model of a fine-tuned model id, `ft:<base>:<owner>:<suffix>:<id>`; undefined when not one. */
export function fineTunedBase(id: string): string | undefined {
  const parts = id.split(':');
  return parts[0] === 'ft' && parts[1] ? parts[1] : undefined;
}

/**
 * The plan's entry for a model, priced as the API bills it: a fine-tuned model at its base model's
 * `fine_tuned_pricing`, which the server computes (base prices plus the plan's premium, rounded as
 * billed); undefined where the plan does not offer the model (or adapters on it).
 */
export function modelPricing(plan: Plan, model: string): ModelPlan | undefined {
  const base = fineTunedBase(model);
  const entry = plan.models.find((m) => m.id === (base ?? model));
  if (!entry || !base) return entry;
  return entry.fine_tuned_pricing ? { ...entry, pricing: entry.fine_tuned_pricing } : undefined;
}

/**
 * Whether an error says the route itself is missing (this deployment has no such API yet): 404
 * `unknown_url`, as API Gateway and local mode answer a path they have no route for. A 404 for a
 * missing job is not this.
 */
export function isRouteMissing(error: unknown): boolean {
  const e = error as { status?: unknown; code?: unknown } | null;
  return e?.status === 404 && (e.code === 'unknown_url' || e.code === null || e.code === undefined);
}

export type BatchOutcome = 'running' | 'succeeded' | 'partial' | 'failed' | 'stopped';

/**
 * What a batch's colour says: its outcome, not its status word. A batch `completed` with every line
 * failed is a failure, with some failed a partial success; only a batch whose every line
 * succeeded is green.
 */
export function batchOutcome(batch: Pick<Batch, 'status' | 'request_counts'>): BatchOutcome {
  const { completed, failed, total } = batch.request_counts;
  switch (batch.status) {
    case 'failed':
      return 'failed';
    case 'expired':
    case 'cancelled':
    case 'cancelling':
      return 'stopped';
    case 'completed':
      if (failed === 0 && completed === total) return 'succeeded';
      return completed === 0 ? 'failed' : 'partial';
    default:
      return 'running';
  }
}

/** The words beside a batch's status: `Completed, 3 of 10 requests failed`. */
export function batchOutcomeWords(batch: Pick<Batch, 'status' | 'request_counts'>): string {
  const words = batchStatusWords(batch.status);
  const { failed, total } = batch.request_counts;
  if (batch.status !== 'completed' || failed === 0) return words;
  return failed === total
    ? `${words}: every request failed`
    : `${words}: ${formatInteger(failed)} of ${formatInteger(total)} requests failed`;
}

/** A file's size in words: `812 B`, `14.2 KB`, `3.1 MB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}
