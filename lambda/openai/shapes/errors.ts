import * as z from 'zod/mini';

/** OpenAI's error body, the only shape a failure is answered with (`openai/errors.ts` writes it). */
export const errorShape = z.object({
  message: z.string(),
  type: z.string(),
  param: z.nullable(z.string()),
  code: z.nullable(z.string()),
});
export const errorResponseShape = z.object({ error: errorShape });

export type ErrorResponse = z.output<typeof errorResponseShape>;
