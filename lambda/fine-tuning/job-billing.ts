import type { TierlineConfig } from '../../lib/config/schema';
import { type LedgerWriter, ledgerRecord } from '../metering/ledger';
import type { SpendTracker } from '../metering/spend';
import type { JobRecord } from './jobs';
import type { JobsRepository } from './jobs-repository';

/**
 * A job's spend: its estimated cost is reserved against the monthly spend limit when it is created
 * (`jobs-service.ts`); here it ends, exactly once whoever ends it (the workflow's succeed or fail
 * step, a cancel through the API) and however often they are retried:
 * - succeeded: one ledger record (request id `<job>:training`, so a retry never bills twice) for
 *   the trained tokens at the training price shown at creation, then the reservation settled to
 *   that cost;
 * - failed or cancelled: the reservation released, nothing billed (the work is ours to lose). The
 *   job's `spendSettledAt` is marked (conditionally) before the spend item is settled: a retry
 *   after the mark settles nothing again. A crash between the mark and the settle leaves the hold
 *   until the month ends: over-counting only blocks earlier, it never lets spend pass the limit
 *   (see metering/spend.ts).
 */

/** The ledger's model of a training: apart from the base model's inference in `/v1/usage` and billing. */
export const trainingLedgerModel = (baseModel: string) => `fine-tuning:${baseModel}`;

export interface JobBillingDeps {
  jobs: Pick<JobsRepository, 'get' | 'markSpendSettled'>;
  spend: Pick<SpendTracker, 'settle'>;
  ledger: Pick<LedgerWriter, 'write'>;
  config: TierlineConfig;
  now?: () => Date;
}

export class JobBilling {
  constructor(private readonly deps: JobBillingDeps) {}

  private seconds(): number {
    return Math.floor((this.deps.now?.() ?? new Date()).getTime() / 1000);
  }

  /**
   * The trained tokens billed: what the training reported, at most the estimate the customer saw
   * and the spend limit held (the API's and the script's counts of one file can differ by a few
   * tokens per line).
   */
  static billedTokens(job: JobRecord): number {
    const trained = job.trainedTokens ?? job.estimatedTrainedTokens;
    return Math.max(0, Math.min(Math.round(trained), job.estimatedTrainedTokens));
  }

  /** The job succeeded: its training goes through the ledger and its reservation is settled to the cost. */
  async bill(jobId: string): Promise<void> {
    const job = await this.deps.jobs.get(jobId);
    if (!job?.spendReservation || job.status !== 'succeeded') return;
    const tier = job.tier ?? 'enterprise';
    const record = ledgerRecord({
      requestId: `${job.jobId}:training`,
      customerId: job.customerId,
      model: trainingLedgerModel(job.model),
      tier,
      inputTokens: JobBilling.billedTokens(job),
      outputTokens: 0,
      prices: {
        inputMicroUsdPerMillion: job.trainingMicroUsdPerMillion ?? 0,
        outputMicroUsdPerMillion: 0,
      },
      status: 'completed',
      // The creation decides the day and month the training counts in: the month its reservation
      // holds.
      startedAt: new Date(job.createdAt * 1000).toISOString(),
      finishedAt: new Date((job.finishedAt ?? this.seconds()) * 1000).toISOString(),
    });
    await this.deps.ledger.write(record);
    if (!(await this.deps.jobs.markSpendSettled(job.jobId, this.seconds()))) return;
    await this.deps.spend.settle(
      { customerId: job.customerId, ...job.spendReservation },
      record.costMicroUsd,
      this.deps.config.tiers[tier].spendLimit.alertThresholdsPercent,
    );
  }

  /** The job failed or was cancelled: its reservation is given back. */
  async release(jobId: string): Promise<void> {
    const job = await this.deps.jobs.get(jobId);
    if (!job?.spendReservation || job.status === 'succeeded') return;
    if (!(await this.deps.jobs.markSpendSettled(job.jobId, this.seconds()))) return;
    await this.deps.spend.settle({ customerId: job.customerId, ...job.spendReservation }, 0);
  }

  /** Whichever applies to the job's status now (a retried workflow step may find either). */
  async settle(jobId: string): Promise<void> {
    const job = await this.deps.jobs.get(jobId);
    if (job?.status === 'succeeded') await this.bill(jobId);
    else if (job && (job.status === 'failed' || job.status === 'cancelled'))
      await this.release(jobId);
  }
}
