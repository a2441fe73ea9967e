import { keyGrants } from '../customers/authenticate';
import type { NamedKeyRecord } from '../customers/customer-keys';
import { accessLevel, ENDPOINT_GROUPS, type KeyPermissions } from '../customers/key-permissions';
import type { AuditEntry } from './audit-log';
import type { ProjectRecord } from './projects';

/**
 * The administration API's objects in OpenAI's shapes (`Project`, `ProjectApiKey`, `AdminApiKey`,
 * `AuditLog` of the published spec; test/e2e/admin-api.test.ts validates every answer).
 */

const seconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);

export function projectView(project: ProjectRecord) {
  return {
    id: project.projectId,
    object: 'organization.project' as const,
    name: project.name,
    created_at: seconds(project.createdAt),
    archived_at: project.archivedAt ? seconds(project.archivedAt) : null,
    status: project.status,
  };
}

/** Who owns a key in OpenAI's terms: the user who made it, else the organization's service account. */
function ownerOf(key: NamedKeyRecord) {
  const created = seconds(key.createdAt);
  if (key.createdBy && !key.createdBy.startsWith('key_') && key.createdBy !== 'operator') {
    return {
      type: 'user' as const,
      user: { id: key.createdBy, email: '', name: '', created_at: created, role: 'owner' },
    };
  }
  return {
    type: 'service_account' as const,
    service_account: {
      id: key.createdBy ?? 'operator',
      name: key.createdBy ? `Created by ${key.createdBy}` : 'Created by the operator',
      created_at: created,
      role: 'owner',
    },
  };
}

export function projectApiKeyView(key: NamedKeyRecord) {
  return {
    object: 'organization.project.api_key' as const,
    redacted_value: key.keyHint ?? '',
    name: key.name,
    created_at: seconds(key.createdAt),
    last_used_at: key.lastUsedAt ? seconds(key.lastUsedAt) : null,
    id: key.keyId,
    owner_project_access: key.status === 'active' ? ('active' as const) : ('inactive' as const),
    owner: ownerOf(key),
    // Tierline's own: what the key may do, and whether it still works.
    permissions: permissionsView(keyGrants(key).permissions ?? 'all'),
    status: key.status,
  };
}

export function permissionsView(permissions: KeyPermissions) {
  return typeof permissions === 'string' ? permissions : permissions.restricted;
}

/** OpenAI's scopes for a key's permissions (the audit log's `api_key.created.data.scopes`). */
export function scopesOf(permissions: KeyPermissions): string[] {
  const scopes: string[] = [];
  for (const group of ENDPOINT_GROUPS) {
    const level = accessLevel(permissions, group);
    if (level !== 'none') scopes.push(`api.${group}.${level}`);
  }
  return scopes;
}

export function adminApiKeyView(key: NamedKeyRecord) {
  return {
    object: 'organization.admin_api_key' as const,
    id: key.keyId,
    name: key.name,
    redacted_value: key.keyHint ?? '',
    created_at: seconds(key.createdAt),
    expires_at: null,
    last_used_at: key.lastUsedAt ? seconds(key.lastUsedAt) : null,
    owner: {
      type:
        !key.createdBy || key.createdBy === 'operator' || key.createdBy.startsWith('key_')
          ? 'service_account'
          : 'user',
      object: 'organization.user',
      id: key.createdBy ?? 'operator',
      name: key.createdBy ?? 'operator',
      created_at: seconds(key.createdAt),
      role: 'owner',
    },
  };
}

export function auditLogView(entry: AuditEntry, projectNames: Map<string, string>) {
  const actor =
    entry.actor.kind === 'session'
      ? {
          type: 'session' as const,
          session: {
            user: {
              id: entry.actor.id,
              ...(entry.actor.email ? { email: entry.actor.email } : {}),
            },
            ...(entry.actor.ip ? { ip_address: entry.actor.ip } : {}),
          },
        }
      : {
          type: 'api_key' as const,
          api_key: { id: entry.actor.id, type: 'service_account' as const },
        };
  return {
    id: entry.id,
    type: entry.type,
    effective_at: seconds(entry.effectiveAt),
    actor,
    ...(entry.projectId
      ? {
          project: {
            id: entry.projectId,
            name: projectNames.get(entry.projectId) ?? entry.projectId,
          },
        }
      : {}),
    [entry.type]: entry.details,
    // Tierline's own: where the action came from, whatever the actor.
    ...(entry.actor.ip ? { ip_address: entry.actor.ip } : {}),
    ...(entry.actor.userAgent ? { user_agent: entry.actor.userAgent } : {}),
  };
}
