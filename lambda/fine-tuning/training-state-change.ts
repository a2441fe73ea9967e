import { ACTIVE_STATUSES } from './jobs';
import type { JobsRepository } from './jobs-repository';
import { jobIdOfTrainingJob } from './sagemaker-names';

/**
 * EventBridge's "SageMaker Training Job State Change" events keep a job's status and events
 * current. EventBridge delivers at least once and in no guaranteed order: each event's effect is
 * written with a condition (events once by id, the status only forward by rank), so duplicates and
 * late events change nothing. A completed training is not yet a succeeded job: the workflow deploys
 * the adapter first. A stopped training is a cancellation only when someone stopped it (the jobs
 * API's cancel): SageMaker also stops a job that ran past StoppingCondition.MaxRuntimeInSeconds
 * (SecondaryStatus `MaxRuntimeExceeded`) or a managed spot job that waited and ran past
 * MaxWaitTimeInSeconds (`MaxWaitTimeExceeded`); those jobs failed (DescribeTrainingJob's
 * SecondaryStatus, API reference "SecondaryStatusTransition"; the SDK's SecondaryStatus enum has
 * both values).
 */

export interface TrainingJobStateChange {
  time?: string;
  detail: {
    TrainingJobName: string;
    TrainingJobStatus: 'InProgress' | 'Completed' | 'Failed' | 'Stopping' | 'Stopped';
    SecondaryStatus?: string;
    FailureReason?: string;
    LastModifiedTime?: number | string;
    FinalMetricDataList?: { MetricName: string; Value: number }[];
  };
}

/** Secondary statuses of a Stopped job that SageMaker stopped on its own: the job ran out of time. */
const TIMED_OUT: Record<string, string> = {
  MaxRuntimeExceeded: 'it ran past its maximum runtime (fineTuning.training.maxRuntimeSeconds)',
  MaxWaitTimeExceeded:
    'it waited for spot capacity and ran past its maximum wait time (fineTuning.training.spot.maxWaitSeconds)',
};

function timedOut(detail: TrainingJobStateChange['detail']): string | undefined {
  const reason = detail.SecondaryStatus ? TIMED_OUT[detail.SecondaryStatus] : undefined;
  return reason ? `Training stopped before it finished: ${reason}` : undefined;
}

const RANK: Record<string, number> = {
  InProgress: 1,
  Stopping: 2,
  Completed: 3,
  Failed: 3,
  Stopped: 3,
};

function unixSeconds(value: number | string | undefined, fallback: string | undefined): number {
  // EventBridge sends DescribeTrainingJob's timestamps as epoch milliseconds.
  if (typeof value === 'number') return Math.floor(value > 1e11 ? value / 1000 : value);
  const parsed = Date.parse(String(value ?? fallback ?? ''));
  return Number.isNaN(parsed) ? Math.floor(Date.now() / 1000) : Math.floor(parsed / 1000);
}

function describe(detail: TrainingJobStateChange['detail']): {
  message: string;
  level: 'info' | 'warn' | 'error';
} {
  const secondary = detail.SecondaryStatus ? ` (${detail.SecondaryStatus})` : '';
  switch (detail.TrainingJobStatus) {
    case 'InProgress':
      return { level: 'info', message: `Training${secondary}` };
    case 'Completed':
      return { level: 'info', message: 'Training completed; deploying the adapter' };
    case 'Failed':
      return {
        level: 'error',
        message: `Training failed: ${detail.FailureReason ?? 'no reason given'}`,
      };
    case 'Stopping':
      return { level: 'warn', message: 'Training is stopping' };
    case 'Stopped': {
      const timeout = timedOut(detail);
      return timeout
        ? { level: 'error', message: timeout }
        : { level: 'warn', message: 'Training stopped' };
    }
  }
}

export type StateChangeOutcome = 'ignored' | 'duplicate' | 'recorded' | 'applied';

export async function applyTrainingStateChange(
  event: TrainingJobStateChange,
  deps: { jobs: JobsRepository; environmentName: string },
): Promise<StateChangeOutcome> {
  const { detail } = event;
  const jobId = jobIdOfTrainingJob(deps.environmentName, detail.TrainingJobName ?? '');
  const rank = RANK[detail.TrainingJobStatus];
  if (!jobId || rank === undefined) return 'ignored';
  const job = await deps.jobs.get(jobId);
  if (!job) return 'ignored';

  const at = unixSeconds(detail.LastModifiedTime, event.time);
  const { message, level } = describe(detail);
  const metrics = Object.fromEntries(
    (detail.FinalMetricDataList ?? []).map((m) => [m.MetricName, m.Value]),
  );
  const written = await deps.jobs.addEvent(jobId, {
    id: `ftevent-${detail.TrainingJobStatus}-${(detail.SecondaryStatus ?? '').replace(/[^A-Za-z]/g, '')}-${at}`,
    createdAt: at,
    level,
    message,
    ...(Object.keys(metrics).length > 0 ? { data: metrics } : {}),
  });
  const advanced = await deps.jobs.recordTrainingStatus(jobId, detail.TrainingJobStatus, rank);
  if (!advanced) return written ? 'recorded' : 'duplicate';

  switch (detail.TrainingJobStatus) {
    case 'InProgress':
      await deps.jobs.transition(jobId, ['validating_files', 'queued'], 'running');
      break;
    case 'Failed':
      await deps.jobs.transition(jobId, ACTIVE_STATUSES, 'failed', {
        finishedAt: at,
        error: {
          code: 'training_failed',
          message: detail.FailureReason ?? 'Training failed',
          param: null,
        },
      });
      break;
    case 'Stopped': {
      const timeout = timedOut(detail);
      if (timeout) {
        await deps.jobs.transition(jobId, ACTIVE_STATUSES, 'failed', {
          finishedAt: at,
          error: { code: 'training_timeout', message: timeout, param: null },
        });
      } else {
        await deps.jobs.transition(jobId, ACTIVE_STATUSES, 'cancelled', { finishedAt: at });
      }
      break;
    }
    case 'Completed':
      if (typeof metrics.trained_tokens === 'number')
        await deps.jobs.update(jobId, { trainedTokens: metrics.trained_tokens });
      break;
    case 'Stopping':
      break;
  }
  return 'applied';
}
