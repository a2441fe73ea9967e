import * as z from 'zod/mini';
import { count, nullableCount } from './common';

/** A customer's API keys as `/v1/keys` shows them: never a secret, except once in `CreatedApiKey`. */
export const apiKeyShape = z.object({
  object: z.literal('api_key'),
  id: z.string(),
  name: z.string(),
  /** `tl_AbCd…wxyz`: recognisable, not usable. */
  hint: z.string(),
  status: z.enum(['active', 'revoked', 'suspended']),
  primary: z.boolean(),
  created_at: count(),
  revoked_at: nullableCount(),
  /** When the key last authenticated a request, to the hour; null if never (or not since recorded). */
  last_used_at: nullableCount(),
  /** The project the key belongs to (its organization's default project for keys made before projects). */
  project_id: z.string(),
  /** `all`, `read_only`, or per endpoint group `none`/`read`/`write` (a restricted key). */
  permissions: z.union([
    z.enum(['all', 'read_only']),
    z.record(z.string(), z.enum(['none', 'read', 'write'])),
  ]),
  /** Who created it: a user id, a key id, or null (the operator; keys made before this was kept). */
  created_by: z.nullable(z.string()),
});
export type ApiKey = z.output<typeof apiKeyShape>;

export const createdApiKeyShape = z.extend(apiKeyShape, {
  /** The secret, in this answer only. */
  key: z.string().check(z.regex(/^tl_[0-9A-Za-z]{49}$/)),
});
export type CreatedApiKey = z.output<typeof createdApiKeyShape>;

export const apiKeyListShape = z.object({ object: z.literal('list'), data: z.array(apiKeyShape) });
export type ApiKeyList = z.output<typeof apiKeyListShape>;
