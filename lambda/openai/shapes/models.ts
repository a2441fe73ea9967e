import * as z from 'zod/mini';
import { count } from './common';

/** `/v1/models`: the tier's models and the caller's fine-tunes, with Groq's extra fields. */
export const modelShape = z.object({
  id: z.string(),
  object: z.literal('model'),
  created: count(),
  owned_by: z.string(),
  active: z.boolean(),
  context_window: count(),
  max_completion_tokens: count(),
  /** When the model stops being served (an ISO date, as its deprecation notice gives it). */
  shutdown_date: z.optional(z.iso.date()),
});
export type OpenAIModel = z.output<typeof modelShape>;

export const modelListShape = z.object({ object: z.literal('list'), data: z.array(modelShape) });
export type OpenAIModelList = z.output<typeof modelListShape>;

export const modelDeletedShape = z.object({
  id: z.string(),
  object: z.literal('model'),
  deleted: z.literal(true),
});
export type OpenAIModelDeleted = z.output<typeof modelDeletedShape>;
