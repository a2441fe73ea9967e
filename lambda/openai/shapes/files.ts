import * as z from 'zod/mini';
import { count } from './common';

/**
 * The Files and Uploads objects (https://platform.openai.com/docs/api-reference/files,
 * https://platform.openai.com/docs/api-reference/uploads).
 */

export const filePurposeShape = z.enum([
  'batch',
  'batch_output',
  'fine-tune',
  'fine-tune-results',
  'user_data',
]);
export type OpenAIFilePurpose = z.output<typeof filePurposeShape>;

export const fileShape = z.object({
  id: z.string().check(z.regex(/^file-/)),
  object: z.literal('file'),
  bytes: count(),
  created_at: count(),
  filename: z.string(),
  purpose: filePurposeShape,
  /** Deprecated by OpenAI but still required by its schema: a stored file is always `processed` here. */
  status: z.enum(['uploaded', 'processed', 'error']),
});
export type OpenAIFile = z.output<typeof fileShape>;

export const fileListShape = z.object({
  object: z.literal('list'),
  data: z.array(fileShape),
  first_id: z.string(),
  last_id: z.string(),
  has_more: z.boolean(),
});
export type OpenAIFileList = z.output<typeof fileListShape>;

export const fileDeletedShape = z.object({
  id: z.string(),
  object: z.literal('file'),
  deleted: z.literal(true),
});
export type OpenAIFileDeleted = z.output<typeof fileDeletedShape>;

export const uploadShape = z.object({
  id: z.string(),
  object: z.literal('upload'),
  bytes: count(),
  created_at: count(),
  expires_at: count(),
  filename: z.string(),
  purpose: filePurposeShape,
  status: z.enum(['pending', 'completed', 'cancelled', 'expired']),
  file: z.nullable(fileShape),
});
export type OpenAIUpload = z.output<typeof uploadShape>;

export const uploadPartShape = z.object({
  id: z.string(),
  object: z.literal('upload.part'),
  created_at: count(),
  upload_id: z.string(),
});
export type OpenAIUploadPart = z.output<typeof uploadPartShape>;
