import * as z from 'zod/mini';
import { count, nullableCount, usdNumber } from './common';

/**
 * OpenAI's administration API objects as Tierline answers them: the fields of OpenAI's `Project`,
 * `ProjectApiKey`, `AdminApiKey` and `AuditLog` that Tierline fills, plus its own (a project key's
 * permissions and status, an audit entry's source). End-to-end tests validate every answer against
 * OpenAI's schemas and these.
 */

const list = <T extends z.ZodMiniType>(item: T) =>
  z.object({
    object: z.literal('list'),
    data: z.array(item),
    first_id: z.nullable(z.string()),
    last_id: z.nullable(z.string()),
    has_more: z.boolean(),
  });

export const projectShape = z.object({
  id: z.string(),
  object: z.literal('organization.project'),
  name: z.string(),
  created_at: count(),
  archived_at: nullableCount(),
  status: z.enum(['active', 'archived']),
});
export const projectListShape = list(projectShape);

const permissions = z.union([
  z.enum(['all', 'read_only']),
  z.record(z.string(), z.enum(['none', 'read', 'write'])),
]);

export const projectApiKeyShape = z.object({
  object: z.literal('organization.project.api_key'),
  redacted_value: z.string(),
  name: z.string(),
  created_at: count(),
  last_used_at: nullableCount(),
  id: z.string(),
  owner_project_access: z.enum(['active', 'inactive']),
  owner: z.object({
    type: z.enum(['user', 'service_account']),
    user: z.optional(
      z.object({
        id: z.string(),
        email: z.string(),
        name: z.string(),
        created_at: count(),
        role: z.string(),
      }),
    ),
    service_account: z.optional(
      z.object({ id: z.string(), name: z.string(), created_at: count(), role: z.string() }),
    ),
  }),
  /** Tierline's own: what the key may do, per endpoint group. */
  permissions,
  status: z.enum(['active', 'revoked', 'suspended']),
});
export const projectApiKeyListShape = list(projectApiKeyShape);
export const projectApiKeyDeletedShape = z.object({
  object: z.literal('organization.project.api_key.deleted'),
  id: z.string(),
  deleted: z.boolean(),
});

export const adminApiKeyShape = z.object({
  object: z.literal('organization.admin_api_key'),
  id: z.string(),
  name: z.string(),
  redacted_value: z.string(),
  created_at: count(),
  expires_at: z.null(),
  last_used_at: nullableCount(),
  owner: z.object({
    type: z.string(),
    object: z.string(),
    id: z.string(),
    name: z.string(),
    created_at: count(),
    role: z.string(),
  }),
});
export const adminApiKeyListShape = list(adminApiKeyShape);
export const createdAdminApiKeyShape = z.extend(adminApiKeyShape, {
  /** The secret (`tl_admin_...`), in this answer only. */
  value: z.string().check(z.regex(/^tl_admin_[0-9A-Za-z]{49}$/)),
});
export const adminApiKeyDeletedShape = z.object({
  object: z.literal('organization.admin_api_key.deleted'),
  id: z.string(),
  deleted: z.boolean(),
});

export const auditLogShape = z.object({
  id: z.string(),
  type: z.enum([
    'api_key.created',
    'api_key.deleted',
    'project.created',
    'project.updated',
    'project.archived',
    'rate_limit.updated',
    'organization.updated',
    'invite.sent',
    'invite.accepted',
    'invite.deleted',
    'user.added',
    'user.updated',
    'user.deleted',
  ]),
  effective_at: count(),
  actor: z.object({
    type: z.enum(['session', 'api_key']),
    session: z.optional(
      z.object({
        user: z.object({ id: z.string(), email: z.optional(z.string()) }),
        ip_address: z.optional(z.string()),
      }),
    ),
    api_key: z.optional(z.object({ id: z.string(), type: z.literal('service_account') })),
  }),
  project: z.optional(z.object({ id: z.string(), name: z.string() })),
  /** Tierline's own: where the action came from, whatever the actor. */
  ip_address: z.optional(z.string()),
  user_agent: z.optional(z.string()),
});
export const auditLogListShape = list(auditLogShape);

export const projectRateLimitShape = z.object({
  object: z.literal('project.rate_limit'),
  /** `rl-<model>`. */
  id: z.string(),
  model: z.string(),
  max_requests_per_1_minute: count(),
  max_tokens_per_1_minute: count(),
  max_requests_per_1_day: count(),
});
export const projectRateLimitListShape = list(projectRateLimitShape);

export const projectSpendLimitShape = z.object({
  object: z.literal('project.spend_limit'),
  /** Cents. */
  threshold_amount: count(),
  currency: z.literal('USD'),
  interval: z.literal('month'),
  enforcement: z.object({ status: z.literal('enforcing') }),
});
export const projectSpendLimitDeletedShape = z.object({
  object: z.literal('project.spend_limit.deleted'),
  deleted: z.boolean(),
});

export const organizationSpendLimitShape = z.object({
  object: z.literal('organization.spend_limit'),
  /** Cents. */
  threshold_amount: count(),
  currency: z.literal('USD'),
  interval: z.literal('month'),
  enforcement: z.object({ status: z.literal('enforcing') }),
});
export const organizationSpendLimitDeletedShape = z.object({
  object: z.literal('organization.spend_limit.deleted'),
  deleted: z.boolean(),
});

const spendAlert = <O extends string>(object: O) =>
  z.object({
    id: z.string(),
    object: z.literal(object),
    /** Cents. */
    threshold_amount: count(),
    currency: z.literal('USD'),
    interval: z.literal('month'),
    notification_channel: z.object({
      type: z.literal('email'),
      recipients: z.array(z.string()),
      subject_prefix: z.nullable(z.string()),
    }),
  });
export const organizationSpendAlertShape = spendAlert('organization.spend_alert');
export const organizationSpendAlertListShape = list(organizationSpendAlertShape);
export const organizationSpendAlertDeletedShape = z.object({
  id: z.string(),
  object: z.literal('organization.spend_alert.deleted'),
  deleted: z.boolean(),
});
export const projectSpendAlertShape = spendAlert('project.spend_alert');
export const projectSpendAlertListShape = list(projectSpendAlertShape);
export const projectSpendAlertDeletedShape = z.object({
  id: z.string(),
  object: z.literal('project.spend_alert.deleted'),
  deleted: z.boolean(),
});

/** A usage or costs page: time buckets with their results (OpenAI's `UsageResponse`). */
const usagePage = <T extends z.ZodMiniType>(result: T) =>
  z.object({
    object: z.literal('page'),
    data: z.array(
      z.object({
        object: z.literal('bucket'),
        start_time: count(),
        end_time: count(),
        results: z.array(result),
      }),
    ),
    has_more: z.boolean(),
    next_page: z.nullable(z.string()),
  });
const groupedBy = {
  project_id: z.nullable(z.string()),
  user_id: z.nullable(z.string()),
  api_key_id: z.nullable(z.string()),
};

export const completionsUsageResultShape = z.object({
  object: z.literal('organization.usage.completions.result'),
  input_tokens: count(),
  output_tokens: count(),
  input_cached_tokens: count(),
  input_audio_tokens: count(),
  output_audio_tokens: count(),
  num_model_requests: count(),
  ...groupedBy,
  model: z.nullable(z.string()),
  batch: z.nullable(z.boolean()),
  service_tier: z.null(),
});
export const completionsUsagePageShape = usagePage(completionsUsageResultShape);

export const transcriptionsUsageResultShape = z.object({
  object: z.literal('organization.usage.audio_transcriptions.result'),
  /** Billed seconds of audio. */
  seconds: count(),
  num_model_requests: count(),
  ...groupedBy,
  model: z.nullable(z.string()),
});
export const transcriptionsUsagePageShape = usagePage(transcriptionsUsageResultShape);

export const costsResultShape = z.object({
  object: z.literal('organization.costs.result'),
  amount: z.object({ value: usdNumber(), currency: z.literal('usd') }),
  /** A model, or `<model>, batch` for its batch lines. */
  line_item: z.nullable(z.string()),
  project_id: z.nullable(z.string()),
  api_key_id: z.nullable(z.string()),
  quantity: z.nullable(count()),
  quantity_unit: z.nullable(z.enum(['tokens', 'duration_seconds'])),
});
export const costsPageShape = usagePage(costsResultShape);
