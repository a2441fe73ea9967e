import * as z from 'zod/mini';
import { count, metadata } from './common';

/**
 * OpenAI's Batch object (https://platform.openai.com/docs/api-reference/batch/object). Timestamps
 * and file ids a batch does not have yet are left out: OpenAI's schema types them as integers and
 * strings, not null.
 */

export const batchStatusShape = z.enum([
  'validating',
  'in_progress',
  'finalizing',
  'completed',
  'failed',
  'expired',
  'cancelling',
  'cancelled',
]);
export type BatchStatus = z.output<typeof batchStatusShape>;

export const batchShape = z
  .object({
    id: z.string(),
    object: z.literal('batch'),
    endpoint: z.enum(['/v1/chat/completions', '/v1/responses']),
    /** Why the input file was refused, line by line; absent when it was not. */
    errors: z.optional(
      z.object({
        object: z.literal('list'),
        data: z.array(
          z.object({
            code: z.string(),
            message: z.string(),
            param: z.nullable(z.string()),
            line: z.nullable(count()),
          }),
        ),
      }),
    ),
    input_file_id: z.string(),
    completion_window: z.string(),
    status: batchStatusShape,
    output_file_id: z.optional(z.string()),
    error_file_id: z.optional(z.string()),
    created_at: count(),
    in_progress_at: z.optional(count()),
    expires_at: z.optional(count()),
    finalizing_at: z.optional(count()),
    completed_at: z.optional(count()),
    failed_at: z.optional(count()),
    expired_at: z.optional(count()),
    cancelling_at: z.optional(count()),
    cancelled_at: z.optional(count()),
    request_counts: z.object({ total: count(), completed: count(), failed: count() }),
    metadata: metadata(),
  })
  .check(
    z.meta({
      description:
        'Timestamps (`in_progress_at`...) and `output_file_id`/`error_file_id` appear once they exist.',
    }),
  );
export type OpenAIBatch = z.output<typeof batchShape>;

export const batchListShape = z.object({
  object: z.literal('list'),
  data: z.array(batchShape),
  first_id: z.string(),
  last_id: z.string(),
  has_more: z.boolean(),
});
export type OpenAIBatchList = z.output<typeof batchListShape>;
