import type { JobRecord } from '../../../lambda/fine-tuning/jobs';
import { JobsRepository } from '../../../lambda/fine-tuning/jobs-repository';
import { trainingJobName } from '../../../lambda/fine-tuning/sagemaker-names';
import {
  applyTrainingStateChange,
  type TrainingJobStateChange,
} from '../../../lambda/fine-tuning/training-state-change';
import { createDocumentClient } from '../../../lambda/storage/document-client';
import { ensureFineTuningTable } from '../../../local/local-tables';
import { type LocalDynamo, startDynalite } from '../../support/dynalite';

let dynamo: LocalDynamo;
let jobs: JobsRepository;
let counter = 0;
const ENV = 'test';
/** A realistic time: EventBridge sends epoch milliseconds. */
const T = 1_764_000_000;

beforeAll(async () => {
  dynamo = await startDynalite();
});
afterAll(() => dynamo.stop());
beforeEach(async () => {
  counter += 1;
  const tableName = `fine-tuning-${counter}`;
  await ensureFineTuningTable(dynamo.client, tableName);
  jobs = new JobsRepository(createDocumentClient(dynamo.client), tableName);
});

function job(jobId: string, status: JobRecord['status'] = 'queued'): JobRecord {
  return {
    jobId,
    customerId: 'cus_a',
    model: 'qwen3-8b',
    status,
    createdAt: 1_000,
    trainingFile: 'file-abc',
    seed: 42,
    hyperparameters: { nEpochs: 3, batchSize: 1, learningRateMultiplier: 1 },
    lora: { rank: 16, alpha: 32, targetModules: ['q_proj', 'v_proj'] },
    estimatedTrainedTokens: 3000,
    estimatedCostUsd: 0.009,
  };
}

function change(
  jobId: string,
  status: TrainingJobStateChange['detail']['TrainingJobStatus'],
  at: number,
  extra: Partial<TrainingJobStateChange['detail']> = {},
): TrainingJobStateChange {
  return {
    detail: {
      TrainingJobName: trainingJobName(ENV, jobId),
      TrainingJobStatus: status,
      LastModifiedTime: at * 1000,
      ...extra,
    },
  };
}

const apply = (event: TrainingJobStateChange) =>
  applyTrainingStateChange(event, { jobs, environmentName: ENV });

describe('SageMaker training job state changes', () => {
  it('InProgress moves a queued job to running and writes an event', async () => {
    await jobs.create(job('ftjob-a1'));
    expect(
      await apply(change('ftjob-a1', 'InProgress', T + 2_000, { SecondaryStatus: 'Downloading' })),
    ).toBe('applied');
    expect((await jobs.get('ftjob-a1'))?.status).toBe('running');
    const { events } = await jobs.events('ftjob-a1', 10);
    expect(events).toEqual([
      expect.objectContaining({
        createdAt: T + 2_000,
        level: 'info',
        message: 'Training (Downloading)',
      }),
    ]);
  });

  it('Completed keeps the job running (the adapter is not deployed yet) and records trained tokens and losses', async () => {
    await jobs.create(job('ftjob-a2', 'running'));
    const final = [
      { MetricName: 'train_loss', Value: 0.71 },
      { MetricName: 'trained_tokens', Value: 2_950 },
    ];
    await apply(change('ftjob-a2', 'Completed', T + 3_000, { FinalMetricDataList: final }));
    const stored = await jobs.get('ftjob-a2');
    expect(stored).toMatchObject({
      status: 'running',
      trainedTokens: 2_950,
      trainingStatus: 'Completed',
    });
    const { events } = await jobs.events('ftjob-a2', 10);
    expect(events[0]).toMatchObject({
      message: 'Training completed; deploying the adapter',
      data: { train_loss: 0.71, trained_tokens: 2_950 },
    });
  });

  it("Failed fails the job with SageMaker's reason (what the script wrote to /opt/ml/output/failure)", async () => {
    await jobs.create(job('ftjob-a3', 'running'));
    await apply(
      change('ftjob-a3', 'Failed', T + 3_000, {
        FailureReason: 'AlgorithmError: line 7: needs at least one assistant message',
      }),
    );
    expect(await jobs.get('ftjob-a3')).toMatchObject({
      status: 'failed',
      finishedAt: T + 3_000,
      error: {
        code: 'training_failed',
        message: 'AlgorithmError: line 7: needs at least one assistant message',
        param: null,
      },
    });
  });

  it('Stopping then Stopped cancels the job', async () => {
    await jobs.create(job('ftjob-a4', 'running'));
    await apply(change('ftjob-a4', 'Stopping', T + 2_500));
    expect((await jobs.get('ftjob-a4'))?.status).toBe('running');
    await apply(change('ftjob-a4', 'Stopped', T + 2_600));
    expect(await jobs.get('ftjob-a4')).toMatchObject({
      status: 'cancelled',
      finishedAt: T + 2_600,
    });
  });

  it.each([
    ['MaxRuntimeExceeded', /maximum runtime \(fineTuning\.training\.maxRuntimeSeconds\)/],
    ['MaxWaitTimeExceeded', /maximum wait time \(fineTuning\.training\.spot\.maxWaitSeconds\)/],
  ])(
    'Stopped by SageMaker (%s) fails the job: it ran out of time, nobody cancelled it',
    async (secondary, reason) => {
      await jobs.create(job('ftjob-a8', 'running'));
      await apply(change('ftjob-a8', 'Stopping', T + 2_500, { SecondaryStatus: 'Stopping' }));
      await apply(change('ftjob-a8', 'Stopped', T + 2_600, { SecondaryStatus: secondary }));
      const stored = await jobs.get('ftjob-a8');
      expect(stored).toMatchObject({
        status: 'failed',
        finishedAt: T + 2_600,
        error: { code: 'training_timeout', param: null },
      });
      expect(stored?.error?.message).toMatch(reason);
      const { events } = await jobs.events('ftjob-a8', 10);
      expect(events[0]).toMatchObject({ level: 'error', message: expect.stringMatching(reason) });
    },
  );

  it('a duplicated delivery writes nothing twice', async () => {
    await jobs.create(job('ftjob-a5'));
    const event = change('ftjob-a5', 'InProgress', T + 2_000, { SecondaryStatus: 'Training' });
    expect(await apply(event)).toBe('applied');
    expect(await apply(event)).toBe('duplicate');
    expect((await jobs.events('ftjob-a5', 10)).events).toHaveLength(1);
  });

  it('an event older than the status applied is kept as history but moves nothing back', async () => {
    await jobs.create(job('ftjob-a6', 'running'));
    await apply(change('ftjob-a6', 'Failed', T + 3_000, { FailureReason: 'out of memory' }));
    expect(
      await apply(change('ftjob-a6', 'InProgress', T + 2_000, { SecondaryStatus: 'Training' })),
    ).toBe('recorded');
    expect((await jobs.get('ftjob-a6'))?.status).toBe('failed');
    const { events } = await jobs.events('ftjob-a6', 10);
    expect(events.map((e) => e.createdAt)).toEqual([T + 3_000, T + 2_000]); // newest first
  });

  it('a late Failed does not undo a job the workflow already finished or a cancellation', async () => {
    await jobs.create(job('ftjob-a7', 'cancelled'));
    await apply(change('ftjob-a7', 'Failed', T + 3_000, { FailureReason: 'x' }));
    expect((await jobs.get('ftjob-a7'))?.status).toBe('cancelled');
  });

  it('ignores training jobs of another environment or another system, and unknown jobs', async () => {
    expect(
      await apply({
        detail: { TrainingJobName: 'someone-elses-job', TrainingJobStatus: 'Completed' },
      }),
    ).toBe('ignored');
    expect(await apply(change('ftjob-nope', 'Completed', 1))).toBe('ignored');
    expect(
      await applyTrainingStateChange(change('ftjob-x', 'Completed', 1), {
        jobs,
        environmentName: 'prod',
      }),
    ).toBe('ignored');
  });
});
