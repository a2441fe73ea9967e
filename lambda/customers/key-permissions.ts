import { createHash } from 'node:crypto';
import { BASE62 } from './api-keys';

/**
 * What a project (inference) key may do, in OpenAI's three forms: everything, reading only, or
 * restricted per endpoint group, each group `none`, `read` (GET) or `write` (everything). Admin keys
 * and console sessions carry no permissions: their kind decides (lambda/accounts/authorization.ts).
 */
export const ENDPOINT_GROUPS = [
  'models',
  'chat',
  'files',
  'batches',
  'fine_tuning',
  'audio',
] as const;
export type EndpointGroup = (typeof ENDPOINT_GROUPS)[number];
export type AccessLevel = 'none' | 'read' | 'write';
export type KeyPermissions =
  | 'all'
  | 'read_only'
  | { restricted: Partial<Record<EndpointGroup, AccessLevel>> };

export type PrincipalKind = 'project_key' | 'admin_key' | 'session';

/** What a group is for, in the words an error message uses. */
export const ENDPOINT_GROUP_NAMES: Record<EndpointGroup, string> = {
  models: 'models (/v1/models)',
  chat: 'chat (/v1/chat/completions and /v1/responses)',
  files: 'files (/v1/files and /v1/uploads)',
  batches: 'batches (/v1/batches)',
  fine_tuning: 'fine-tuning (/v1/fine_tuning/jobs and /v1/fine_tunings)',
  audio: 'audio (/v1/audio)',
};

/** The level a key's permissions grant on one group. */
export function accessLevel(permissions: KeyPermissions, group: EndpointGroup): AccessLevel {
  if (permissions === 'all') return 'write';
  if (permissions === 'read_only') return 'read';
  return permissions.restricted[group] ?? 'none';
}

/**
 * Every organization's default project, derived from its id: customers created before projects
 * existed have one without a write, and every process names it the same.
 */
export function defaultProjectId(customerId: string): string {
  const digest = createHash('sha256').update(`default-project:${customerId}`, 'utf8').digest();
  let id = '';
  for (const byte of digest.subarray(0, 24)) id += BASE62[byte % 62];
  return `proj_${id}`;
}

/**
 * The project a stored thing of an organization (a key, a ledger record, a response) belongs to:
 * its own, or, for one stored before projects were recorded, the organization's default project.
 * Nothing is rewritten: every reader maps an old item the same way.
 */
export function projectOrDefault(customerId: string, projectId: string | undefined): string {
  return projectId || defaultProjectId(customerId);
}

/**
 * Reads permissions as they travel (the authorizer's string context, a stored item): anything not
 * understood grants nothing, so a corrupted value can never widen a key.
 */
export function parsePermissions(value: unknown): KeyPermissions {
  if (value === 'all' || value === 'read_only') return value;
  let parsed = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value);
    } catch {
      return { restricted: {} };
    }
  }
  const restricted = (parsed as { restricted?: unknown } | null)?.restricted;
  const out: Partial<Record<EndpointGroup, AccessLevel>> = {};
  if (restricted && typeof restricted === 'object') {
    for (const group of ENDPOINT_GROUPS) {
      const level = (restricted as Record<string, unknown>)[group];
      if (level === 'read' || level === 'write' || level === 'none') out[group] = level;
    }
  }
  return { restricted: out };
}

/** The form the authorizer's context carries (strings, numbers and booleans only). */
export function serializePermissions(permissions: KeyPermissions): string {
  return typeof permissions === 'string' ? permissions : JSON.stringify(permissions);
}

/**
 * Reads `permissions` of a key-create body: `"all"` (the default), `"read_only"`, or an object
 * naming groups with `"none"`, `"read"` or `"write"` (a restricted key; groups not named get none).
 * Answers an error message for anything else, naming what is accepted.
 */
export function permissionsFromBody(
  value: unknown,
): { permissions: KeyPermissions } | { error: string } {
  if (value === undefined || value === null || value === 'all') return { permissions: 'all' };
  if (value === 'read_only') return { permissions: 'read_only' };
  const accepted =
    `'permissions' must be "all", "read_only", or an object of groups (${ENDPOINT_GROUPS.join(', ')}) ` +
    'each "none", "read" or "write".';
  if (typeof value !== 'object' || Array.isArray(value)) return { error: accepted };
  const restricted: Partial<Record<EndpointGroup, AccessLevel>> = {};
  for (const [group, level] of Object.entries(value)) {
    if (!(ENDPOINT_GROUPS as readonly string[]).includes(group)) {
      return { error: `Unknown permission group '${group}': ${accepted}` };
    }
    if (level !== 'none' && level !== 'read' && level !== 'write') {
      return { error: `Permission of '${group}' must be "none", "read" or "write".` };
    }
    restricted[group as EndpointGroup] = level;
  }
  return { permissions: { restricted } };
}
