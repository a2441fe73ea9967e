import type { Principal } from '../customers/authenticate';
import {
  accessLevel,
  ENDPOINT_GROUP_NAMES,
  type EndpointGroup,
} from '../customers/key-permissions';
import { AuthenticationError, PermissionDeniedError } from '../openai/errors';

/**
 * Who may call what: the one place that decides. Project keys run inference within their
 * permissions and never manage anything; admin keys manage the organization and never run
 * inference; console sessions do both, owners managing and members reading.
 */

/** The groups of routes besides the inference groups a key's permissions name. */
export type RouteGroup =
  | EndpointGroup
  /** `/v1/keys`: the console's key list. */
  | 'keys'
  /** `/v1/spend_limit`. */
  | 'spend_limit'
  /** `/v1/billing`: the payment method, the running total, upgrade and downgrade. */
  | 'billing'
  /** OpenAI's administration API, `/v1/organization/...`. */
  | 'administration'
  /** What the caller's own account is and has used: `/v1/me`, `/v1/limits`, `/v1/usage`. */
  | 'account';

const ROUTE_GROUPS: [RegExp, RouteGroup][] = [
  [/^\/models(\/|$)/, 'models'],
  [/^\/(chat\/completions|responses)(\/|$)/, 'chat'],
  [/^\/audio\//, 'audio'],
  [/^\/(files|uploads)(\/|$)/, 'files'],
  [/^\/batches(\/|$)/, 'batches'],
  [/^\/(fine_tuning|fine_tunings)(\/|$)/, 'fine_tuning'],
  [/^\/keys(\/|$)/, 'keys'],
  [/^\/spend_limit$/, 'spend_limit'],
  [/^\/billing(\/|$)/, 'billing'],
  [/^\/organization\//, 'administration'],
  [/^\/(me|limits|usage|account\/organizations)$/, 'account'],
];

/** The group of a path under `/v1` or `/openai/v1`; undefined for a path no group names. */
export function routeGroupOf(path: string): RouteGroup | undefined {
  const local = path.replace(/^\/(openai\/)?v1(?=\/)/, '');
  return ROUTE_GROUPS.find(([pattern]) => pattern.test(local))?.[1];
}

const isInference = (group: RouteGroup): group is EndpointGroup => group in ENDPOINT_GROUP_NAMES;

/** Whether a path's routes are administrative: for admin keys and sessions, never project keys. */
export function isAdministrativePath(path: string): boolean {
  const group = routeGroupOf(path);
  return group !== undefined && group !== 'account' && !isInference(group);
}
const isRead = (method: string) => method === 'GET' || method === 'HEAD';

/** A project key at an administrative route. */
function projectKeyRefused(group: RouteGroup): PermissionDeniedError {
  const what =
    group === 'keys'
      ? 'manage API keys'
      : group === 'spend_limit'
        ? 'read or change the spend limit'
        : group === 'billing'
          ? 'see or change billing'
          : 'use the administration API';
  return new PermissionDeniedError(
    `This is a project API key, for inference only: it cannot ${what}. Sign in to the console, or ` +
      'use an admin key (tl_admin_...), which an organization owner creates in the console.',
    { code: 'insufficient_permissions' },
  );
}

/** An admin key at an inference route. */
function adminKeyRefused(group: EndpointGroup): PermissionDeniedError {
  return new PermissionDeniedError(
    `Admin keys manage the organization and cannot be used for ${ENDPOINT_GROUP_NAMES[group]}: ` +
      'use a project API key instead.',
    { code: 'insufficient_permissions' },
  );
}

/** An owner's action tried by a member's session. */
function memberRefused(): PermissionDeniedError {
  return new PermissionDeniedError(
    'Only an owner of this organization can do this: ask an owner, or ask to be made one.',
    { code: 'insufficient_permissions' },
  );
}

/** Whether a session's member (not owner) may call this administrative route. */
function memberMay(group: RouteGroup, method: string, path: string): boolean {
  if (!isRead(method)) return false;
  if (group === 'keys' || group === 'spend_limit' || group === 'billing') return true;
  // Members see the projects (the console's switcher), the members, the invites, the usage and
  // costs, and the spend limits and alerts; keys and the audit log are the owners'.
  return group === 'administration' && MEMBER_READABLE.test(path);
}

const MEMBER_READABLE = new RegExp(
  '/organization/(projects(/[^/]+(/(rate_limits|spend_limit|spend_alerts(/[^/]+)?))?)?' +
    '|users(/[^/]+)?|invites(/[^/]+)?|usage/[a-z_]+|costs|spend_limit|spend_alerts(/[^/]+)?)$',
);

/**
 * Throws a 403 naming why and what to use instead when `principal` may not call `method path`.
 * A path in no group is refused to every key: a route added without a group is closed, not open
 * (test/lambda/accounts/authorization.test.ts walks every documented path).
 */
export function authorizeRoute(principal: Principal, method: string, path: string): void {
  const group = routeGroupOf(path);
  if (group === undefined) {
    throw new PermissionDeniedError('This route is not open to any API key or session.', {
      code: 'insufficient_permissions',
    });
  }
  if (group === 'account') return;
  if (principal.kind === 'session') {
    if (isInference(group) || principal.role === 'owner') return;
    if (!memberMay(group, method, path)) throw memberRefused();
    return;
  }
  if (principal.kind === 'admin_key') {
    if (isInference(group)) throw adminKeyRefused(group);
    if (method === 'POST' && /\/organization\/admin_api_keys$/.test(path)) {
      // A leaked admin key must not be able to mint more of itself.
      throw new PermissionDeniedError(
        'Admin keys are created by an organization owner in the console (or by the operator), ' +
          'not by another admin key.',
        { code: 'insufficient_permissions' },
      );
    }
    return;
  }
  if (!isInference(group)) throw projectKeyRefused(group);
  const level = accessLevel(principal.permissions ?? { restricted: {} }, group);
  if (level === 'write' || (level === 'read' && isRead(method))) return;
  throw new PermissionDeniedError(
    `This API key has ${level === 'none' ? 'no' : 'read-only'} access to ` +
      `${ENDPOINT_GROUP_NAMES[group]}: use a key with write access there, or ask an owner to ` +
      "change this key's permissions.",
    { code: 'insufficient_permissions' },
  );
}

/**
 * An API key belongs to one organization; `OpenAI-Organization` naming another is refused (401
 * `mismatched_organization`, as OpenAI answers), not ignored: an admin script pointed at one
 * organization must not act on the key's own instead. Sessions choose their organization with
 * the header (lambda/accounts/session-principal.ts), so theirs always matches.
 */
export function requireKeysOrganization(principal: Principal, header: string | undefined): void {
  const named = header?.trim();
  if (principal.kind === 'session' || !named || named === principal.customerId) return;
  throw new AuthenticationError(
    `The OpenAI-Organization header names '${named.slice(0, 80)}', but this API key belongs to ` +
      `organization '${principal.customerId}': send that organization, or no header.`,
    'mismatched_organization',
  );
}

/**
 * Only an owner's session (or the operator) makes owners. An owner may create admin keys, which
 * an admin key may not (authorizeRoute), so an admin key that could invite an owner, or promote a
 * member to one, would mint admin keys through the person it made owner: a leaked key must stay
 * a key's worth of damage.
 */
export function requireOwnerGrantAllowed(principal: Principal, role: 'owner' | 'member'): void {
  if (role !== 'owner' || principal.kind === 'session') return;
  throw new PermissionDeniedError(
    'Owners are made by an owner signed in to the console (or by the operator), not by an API key: ' +
      "invite with role 'reader', or ask an owner.",
    { code: 'insufficient_permissions' },
  );
}
