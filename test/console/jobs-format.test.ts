import type { Batch, ModelEntry } from '../../console/src/api-client';
import {
  batchEndedAt,
  batchFileName,
  batchOutcome,
  batchOutcomeWords,
  batchProgress,
  batchStatusWords,
  fineTunedBase,
  fineTunedModels,
  formatBytes,
  formatEstimatedCost,
  formatTrainedTokens,
  isBatchActive,
  isBatchCancellable,
  isJobActive,
  isRouteMissing,
  jobErrorText,
  jobStatusWords,
  tiersWith,
} from '../../console/src/jobs-format';

const batch = (fields: Partial<Batch>): Batch => ({
  id: 'batch_1',
  object: 'batch',
  endpoint: '/v1/chat/completions',
  status: 'in_progress',
  input_file_id: 'file-in',
  completion_window: '24h',
  created_at: 1_764_590_000,
  request_counts: { total: 10, completed: 0, failed: 0 },
  metadata: null,
  ...fields,
});

describe('console formatting of batches and fine-tuning jobs', () => {
  it('says a batch status in words, and knows which can still change or be cancelled', () => {
    expect(batchStatusWords('in_progress')).toBe('In progress');
    expect(batchStatusWords('cancelling')).toBe('Cancelling');
    // A status added to the API later is shown as sent rather than hidden.
    expect(batchStatusWords('paused')).toBe('paused');
    expect(['validating', 'in_progress', 'finalizing', 'cancelling'].every(isBatchActive)).toBe(
      true,
    );
    expect(['completed', 'failed', 'expired', 'cancelled'].some(isBatchActive)).toBe(false);
    expect(isBatchCancellable('in_progress')).toBe(true);
    expect(isBatchCancellable('cancelling')).toBe(false);
    expect(isBatchCancellable('completed')).toBe(false);
  });

  it('shows request counts exactly, failed lines only when there are some', () => {
    expect(batchProgress({ total: 10, completed: 7, failed: 0 })).toBe('7 of 10 done');
    expect(batchProgress({ total: 50_000, completed: 12_345, failed: 2 })).toBe(
      '12,345 of 50,000 done, 2 failed',
    );
  });

  it('finds when a batch ended whichever way it ended, and names its files', () => {
    expect(batchEndedAt(batch({}))).toBeUndefined();
    expect(batchEndedAt(batch({ status: 'completed', completed_at: 5 }))).toBe(5);
    expect(batchEndedAt(batch({ status: 'cancelled', cancelling_at: 3, cancelled_at: 4 }))).toBe(4);
    expect(batchEndedAt(batch({ status: 'failed', failed_at: 2 }))).toBe(2);
    expect(batchFileName('batch_1', 'output')).toBe('batch_1-output.jsonl');
    expect(batchFileName('batch_1', 'error')).toBe('batch_1-error.jsonl');
  });

  it('names the tiers that have a feature, in the published order', () => {
    const plans = [
      { display_name: 'Free', batch: false },
      { display_name: 'Developer', batch: true },
      { display_name: 'Enterprise', batch: true },
    ];
    expect(tiersWith(plans, (p) => p.batch)).toBe('Developer and Enterprise');
    expect(tiersWith(plans, (p) => p.display_name === 'Enterprise')).toBe('Enterprise');
    expect(tiersWith([...plans, { display_name: 'Scale', batch: true }], (p) => p.batch)).toBe(
      'Developer, Enterprise and Scale',
    );
    expect(tiersWith(plans, () => false)).toBe('');
  });

  it("says a fine-tuning job's status in words, and its trained tokens, cost and error", () => {
    expect(jobStatusWords('validating_files')).toBe('Validating files');
    expect(jobStatusWords('succeeded')).toBe('Succeeded');
    expect(['validating_files', 'queued', 'running'].every(isJobActive)).toBe(true);
    expect(['succeeded', 'failed', 'cancelled'].some(isJobActive)).toBe(false);
    expect(formatTrainedTokens(1_204_000)).toBe('1,204,000');
    expect(formatTrainedTokens(null)).toBe('—');
    expect(formatEstimatedCost('0.48')).toBe('$0.48');
    expect(formatEstimatedCost(0.0042)).toBe('$0.0042');
    expect(formatEstimatedCost(null)).toBe('—');
    expect(formatEstimatedCost(undefined)).toBe('—');
    expect(jobErrorText({ error: null })).toBeUndefined();
    expect(
      jobErrorText({
        error: { code: 'invalid_training_file', message: 'Line 3 is not JSON.', param: null },
      }),
    ).toBe('Line 3 is not JSON. (invalid_training_file)');
  });

  it("lists the customer's fine-tuned models (ids starting with ft:), newest first, with their base", () => {
    const model = (id: string, created: number, owned_by: string): ModelEntry => ({
      id,
      object: 'model',
      created,
      owned_by,
      active: true,
      context_window: 32_768,
      max_completion_tokens: 8_192,
    });
    const models: ModelEntry[] = [
      model('qwen3-8b', 1, 'tierline'),
      model('ft:qwen3-8b:cus_1:support:ftjob_a', 10, 'cus_1'),
      model('ft:qwen3-32b:cus_1::ftjob_b', 20, 'cus_1'),
      model('draft:ft:x', 30, 'cus_1'),
    ];
    expect(fineTunedModels(models).map((m) => m.id)).toEqual([
      'ft:qwen3-32b:cus_1::ftjob_b',
      'ft:qwen3-8b:cus_1:support:ftjob_a',
    ]);
    expect(fineTunedBase('ft:qwen3-8b:cus_1:support:ftjob_a')).toBe('qwen3-8b');
    expect(fineTunedBase('qwen3-8b')).toBeUndefined();
  });

  it('tells a route this deployment does not have (404 unknown_url) from a missing object', () => {
    expect(isRouteMissing({ status: 404, code: 'unknown_url' })).toBe(true);
    expect(isRouteMissing({ status: 404, code: null })).toBe(true);
    expect(isRouteMissing({ status: 404, code: 'fine_tuning_job_not_found' })).toBe(false);
    expect(isRouteMissing({ status: 403, code: 'unknown_url' })).toBe(false);
    expect(isRouteMissing(undefined)).toBe(false);
  });

  it('colours a batch by its outcome: a completed batch with failed lines is never green', () => {
    const counts = (completed: number, failed: number) => ({
      request_counts: { total: completed + failed, completed, failed },
    });
    const outcome = (status: Batch['status'], c: number, f: number) =>
      batchOutcome(batch({ status, ...counts(c, f) }));
    expect(outcome('completed', 10, 0)).toBe('succeeded');
    expect(outcome('completed', 7, 3)).toBe('partial');
    expect(outcome('completed', 0, 10)).toBe('failed');
    expect(outcome('failed', 0, 0)).toBe('failed');
    expect(outcome('expired', 4, 0)).toBe('stopped');
    expect(outcome('cancelled', 4, 0)).toBe('stopped');
    expect(outcome('in_progress', 4, 0)).toBe('running');
    expect(batchOutcomeWords(batch({ status: 'completed', ...counts(7, 3) }))).toBe(
      'Completed: 3 of 10 requests failed',
    );
    expect(batchOutcomeWords(batch({ status: 'completed', ...counts(0, 2) }))).toBe(
      'Completed: every request failed',
    );
    expect(batchOutcomeWords(batch({ status: 'failed', ...counts(0, 0) }))).toBe('Failed');
    expect(formatBytes(812)).toBe('812 B');
    expect(formatBytes(14_540)).toBe('14.2 KB');
  });
});
