import type { OpenAIBatch } from '../openai/shapes/batches';
import type { BatchEndpoint } from './batch-lines';
import type { BatchRecord } from './batches-repository';

/**
 * OpenAI's Batch object (https://platform.openai.com/docs/api-reference/batch/object). Timestamps
 * and file ids a batch does not have yet are left out: OpenAI's schema types them as integers and
 * strings, not null.
 */
export function toOpenAIBatch(batch: BatchRecord): OpenAIBatch {
  const t = batch.times;
  return withoutUndefined({
    id: batch.batchId,
    object: 'batch',
    // One of the endpoints a batch is created with (batch-service.ts refuses any other).
    endpoint: batch.endpoint as BatchEndpoint,
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
      : undefined,
    input_file_id: batch.inputFileId,
    completion_window: batch.completionWindow,
    status: batch.status,
    output_file_id: batch.outputFileId,
    error_file_id: batch.errorFileId,
    created_at: batch.createdAt,
    in_progress_at: t.in_progress,
    expires_at: batch.expiresAt,
    finalizing_at: t.finalizing,
    completed_at: t.completed,
    failed_at: t.failed,
    expired_at: t.expired,
    cancelling_at: t.cancelling,
    cancelled_at: t.cancelled,
    request_counts: { total: batch.total, completed: batch.completed, failed: batch.failed },
    metadata: batch.metadata,
  });
}

/** The object without its undefined fields, so absent values are absent keys (also in-process). */
function withoutUndefined<T extends object>(view: T): T {
  return Object.fromEntries(Object.entries(view).filter(([, value]) => value !== undefined)) as T;
}
