import type { BatchRecord } from './batches-repository';

/**
 * OpenAI's Batch object (https://platform.openai.com/docs/api-reference/batch/object). Timestamps
 * and file ids a batch does not have yet are left out: OpenAI's schema types them as integers and
 * strings, not null.
 */
export function toOpenAIBatch(batch: BatchRecord) {
  const t = batch.times;
  const view: Record<string, unknown> = {
    id: batch.batchId,
    object: 'batch' as const,
    endpoint: batch.endpoint,
    errors: batch.errors
      ? {
          object: 'list',
          data: batch.errors.map((e) => ({
            code: e.code,
            message: e.message,
            param: e.param,
            line: e.line,
          })),
        }
      : null,
    input_file_id: batch.inputFileId,
    completion_window: batch.completionWindow,
    status: batch.status,
    output_file_id: batch.outputFileId ?? null,
    error_file_id: batch.errorFileId ?? null,
    created_at: batch.createdAt,
    in_progress_at: t.in_progress ?? null,
    expires_at: batch.expiresAt,
    finalizing_at: t.finalizing ?? null,
    completed_at: t.completed ?? null,
    failed_at: t.failed ?? null,
    expired_at: t.expired ?? null,
    cancelling_at: t.cancelling ?? null,
    cancelled_at: t.cancelled ?? null,
    request_counts: { total: batch.total, completed: batch.completed, failed: batch.failed },
    metadata: batch.metadata,
  };
  for (const [key, value] of Object.entries(view))
    if (value === null && key !== 'metadata') delete view[key];
  return view;
}
