import * as z from 'zod/mini';
import { count, day } from './common';

/** One limit of one model: the limit, what the current window used of it, and what is left. */
const limitRow = () => z.object({ limit: count(), used: count(), remaining: count() });

/** `GET /v1/limits`: per model, what this UTC minute and day used of the tier's limits. */
export const limitsShape = z.object({
  object: z.literal('limits'),
  tier: z.string(),
  minute: z.string(),
  day: day(),
  reset_minute: z.string(),
  reset_day: z.string(),
  reset_minute_seconds: count(),
  reset_day_seconds: count(),
  data: z.array(
    z.object({
      object: z.literal('model_limits'),
      model: z.string(),
      requests_per_minute: limitRow(),
      requests_per_day: limitRow(),
      tokens_per_minute: limitRow(),
      tokens_per_day: limitRow(),
    }),
  ),
});
export type Limits = z.output<typeof limitsShape>;
export type LimitRow = Limits['data'][number]['requests_per_minute'];
