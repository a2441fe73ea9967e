import type * as z from 'zod/mini';
import type { inviteShape, organizationUserShape } from '../../lambda/openai/shapes/members';
import type {
  auditLogShape,
  completionsUsagePageShape,
  projectApiKeyShape,
  projectRateLimitShape,
  projectShape,
  projectSpendLimitShape,
} from '../../lambda/openai/shapes/organization';
import type { ConsoleApi } from './api-client';

/**
 * The console's calls of OpenAI's administration API (`/v1/organization/...`) on the signed-in
 * session: members and invites, projects and their keys, limits, usage and the audit log. Types
 * only from the server's shapes (`import type`: no zod enters the bundle).
 */

export type OrganizationUser = z.output<typeof organizationUserShape>;
export type Invite = z.output<typeof inviteShape>;
export type Project = z.output<typeof projectShape>;
export type ProjectApiKey = z.output<typeof projectApiKeyShape>;
export type ProjectRateLimit = z.output<typeof projectRateLimitShape>;
export type ProjectSpendLimit = z.output<typeof projectSpendLimitShape>;
export type AuditLogEntry = z.output<typeof auditLogShape>;
export type CompletionsUsagePage = z.output<typeof completionsUsagePageShape>;
export type Role = OrganizationUser['role'];
export type KeyPermissions = ProjectApiKey['permissions'];

interface ListPage<T> {
  data: T[];
  has_more: boolean;
  last_id: string | null;
}

const post = (body: unknown): RequestInit => ({ method: 'POST', body: JSON.stringify(body) });
const id = (value: string) => encodeURIComponent(value);
/** The administration API lists at most 100 per page; the console's lists stay within one. */
const ALL = '?limit=100';

export const members = {
  list: async (api: ConsoleApi) =>
    (await api.request<ListPage<OrganizationUser>>(`/organization/users${ALL}`)).data,
  setRole: (api: ConsoleApi, userId: string, role: Role) =>
    api.request<OrganizationUser>(`/organization/users/${id(userId)}`, post({ role })),
  remove: (api: ConsoleApi, userId: string) =>
    api.request<unknown>(`/organization/users/${id(userId)}`, { method: 'DELETE' }),
};

export const invites = {
  list: async (api: ConsoleApi) =>
    (await api.request<ListPage<Invite>>(`/organization/invites${ALL}`)).data,
  create: (api: ConsoleApi, email: string, role: Role) =>
    api.request<Invite>('/organization/invites', post({ email, role })),
  remove: (api: ConsoleApi, inviteId: string) =>
    api.request<unknown>(`/organization/invites/${id(inviteId)}`, { method: 'DELETE' }),
  /** The invited person's session joins the organization the link's token names. */
  accept: (api: ConsoleApi, token: string) =>
    api.request<{ organization_id: string }>('/organization/invites/accept', post({ token })),
};

export const projects = {
  list: async (api: ConsoleApi) =>
    (await api.request<ListPage<Project>>(`/organization/projects${ALL}&include_archived=true`))
      .data,
  create: (api: ConsoleApi, name: string) =>
    api.request<Project>('/organization/projects', post({ name })),
  rename: (api: ConsoleApi, projectId: string, name: string) =>
    api.request<Project>(`/organization/projects/${id(projectId)}`, post({ name })),
  archive: (api: ConsoleApi, projectId: string) =>
    api.request<Project>(`/organization/projects/${id(projectId)}/archive`, { method: 'POST' }),
  keys: async (api: ConsoleApi, projectId: string) =>
    (
      await api.request<ListPage<ProjectApiKey>>(
        `/organization/projects/${id(projectId)}/api_keys${ALL}`,
      )
    ).data,
  /** A key of the project: `/v1/keys` in the project `OpenAI-Project` names; the secret once. */
  createKey: (api: ConsoleApi, projectId: string, name: string, permissions: KeyPermissions) =>
    api.request<{ id: string; key: string; name: string }>('/keys', {
      ...post({ name, permissions }),
      headers: { 'openai-project': projectId },
    }),
  revokeKey: (api: ConsoleApi, projectId: string, keyId: string) =>
    api.request<unknown>(`/organization/projects/${id(projectId)}/api_keys/${id(keyId)}`, {
      method: 'DELETE',
    }),
  rateLimits: async (api: ConsoleApi, projectId: string) =>
    (
      await api.request<ListPage<ProjectRateLimit>>(
        `/organization/projects/${id(projectId)}/rate_limits${ALL}`,
      )
    ).data,
  setRateLimit: (
    api: ConsoleApi,
    projectId: string,
    limitId: string,
    change: Partial<Omit<ProjectRateLimit, 'object' | 'id' | 'model'>>,
  ) =>
    api.request<ProjectRateLimit>(
      `/organization/projects/${id(projectId)}/rate_limits/${id(limitId)}`,
      post(change),
    ),
  spendLimit: (api: ConsoleApi, projectId: string) =>
    api.request<ProjectSpendLimit>(`/organization/projects/${id(projectId)}/spend_limit`),
  setSpendLimit: (api: ConsoleApi, projectId: string, cents: number) =>
    api.request<ProjectSpendLimit>(
      `/organization/projects/${id(projectId)}/spend_limit`,
      post({ threshold_amount: cents, currency: 'USD', interval: 'month' }),
    ),
  removeSpendLimit: (api: ConsoleApi, projectId: string) =>
    api.request<unknown>(`/organization/projects/${id(projectId)}/spend_limit`, {
      method: 'DELETE',
    }),
};

export const auditLogs = {
  page: (api: ConsoleApi, after?: string) =>
    api.request<ListPage<AuditLogEntry>>(
      `/organization/audit_logs?limit=20${after ? `&after=${id(after)}` : ''}`,
    ),
};

export interface UsageRow {
  projectId: string | null;
  apiKeyId: string | null;
  requests: number;
  inputTokens: number;
  outputTokens: number;
}

/** The last 31 days' completions usage per project and key, summed over the days. */
export async function usageByProjectAndKey(api: ConsoleApi, now = Date.now()): Promise<UsageRow[]> {
  const start = Math.floor(now / 1000) - 30 * 86_400;
  const page = await api.request<CompletionsUsagePage>(
    `/organization/usage/completions?start_time=${start - (start % 86_400)}&bucket_width=1d` +
      '&limit=31&group_by=project_id&group_by=api_key_id',
  );
  return sumUsage(page);
}

export function sumUsage(page: CompletionsUsagePage): UsageRow[] {
  const rows = new Map<string, UsageRow>();
  for (const bucket of page.data) {
    for (const result of bucket.results) {
      const key = `${result.project_id} ${result.api_key_id}`;
      const row = rows.get(key) ?? {
        projectId: result.project_id,
        apiKeyId: result.api_key_id,
        requests: 0,
        inputTokens: 0,
        outputTokens: 0,
      };
      row.requests += result.num_model_requests;
      row.inputTokens += result.input_tokens;
      row.outputTokens += result.output_tokens;
      rows.set(key, row);
    }
  }
  return [...rows.values()];
}
