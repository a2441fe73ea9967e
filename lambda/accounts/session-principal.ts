import type { Principal, SessionIdentity } from '../customers/authenticate';
import type { CustomersRepository } from '../customers/customers-repository';
import { defaultProjectId } from '../customers/key-permissions';
import { principalLimits } from '../customers/project-limits';
import { BadRequestError, NotFoundError, PermissionDeniedError } from '../openai/errors';
import type { MembershipsRepository } from './memberships';

/** The header the console names its organization in (OpenAI's own name for it). */
export const ORGANIZATION_HEADER = 'openai-organization';

export interface SessionPrincipalDeps {
  memberships: Pick<MembershipsRepository, 'get' | 'listForUser'>;
  customers: Pick<CustomersRepository, 'getCustomer' | 'getKey'>;
  /**
   * How long a resolved organization is reused in this process: the authorizer cache's TTL, so a
   * removed member or a suspended organization stops within the same bound as a revoked key
   * (docs/decisions.md, "Console sessions"). 0 reads every time.
   */
  cacheTtlMs: number;
  now?: () => number;
}

/** Bounds the cache; a console's sessions are few next to its keys. */
const MAX_CACHED = 10_000;

/**
 * Turns a verified session into the principal of the organization it acts for: the one named in
 * `OpenAI-Organization`, or the user's only one when the header is absent. A user who is not a
 * member of the named organization gets 404, as for any object of another organization; an
 * organization that is not active (suspended, deleted) refuses its sessions with 403.
 *
 * The organization's tier, limits and usage key come from its primary key item, as a named key's
 * do (lambda/customers/customer-keys.ts), which the operator keeps up to date.
 */
export function createSessionPrincipals(deps: SessionPrincipalDeps) {
  const now = deps.now ?? Date.now;
  const cache = new Map<string, { principal: Promise<Principal>; expires: number }>();

  const resolve = async (userId: string, organization: string | undefined): Promise<Principal> => {
    let customerId = organization;
    let role: 'owner' | 'member' | undefined;
    if (customerId === undefined) {
      const all = await deps.memberships.listForUser(userId);
      if (all.length === 0) {
        throw new PermissionDeniedError(
          'You do not belong to an organization yet: create one or accept an invitation.',
          { code: 'no_organization' },
        );
      }
      if (all.length > 1) {
        throw new BadRequestError(
          'You belong to several organizations: choose one in the OpenAI-Organization header.',
          { code: 'organization_required', param: 'OpenAI-Organization' },
        );
      }
      customerId = all[0]?.customerId ?? '';
      role = all[0]?.role;
    } else {
      role = (await deps.memberships.get(userId, customerId))?.role;
    }
    const notFound = new NotFoundError(`No organization found with id '${customerId}'.`, {
      code: 'organization_not_found',
    });
    if (!role) throw notFound;
    const customer = await deps.customers.getCustomer(customerId);
    if (!customer) throw notFound;
    const primary = customer.keyHash ? await deps.customers.getKey(customer.keyHash) : undefined;
    if (customer.status !== 'active' || primary?.status !== 'active') {
      throw new PermissionDeniedError(
        'This organization is suspended: ask its owner or Tierline support.',
        { code: 'organization_inactive' },
      );
    }
    return {
      kind: 'session',
      userId,
      role,
      customerId,
      projectId: defaultProjectId(customerId),
      tier: primary.tier,
      usageIdentifierKey: primary.usageIdentifierKey,
      ...(primary.customModelLimits ? { customModelLimits: primary.customModelLimits } : {}),
      ...(primary.spendLimitMicroUsd !== undefined
        ? { spendLimitMicroUsd: primary.spendLimitMicroUsd }
        : {}),
      // The default project's own limits, which its keys (the primary among them) carry: a
      // session in the default project is bound by them with no read of the project.
      ...principalLimits(primary.projectLimits),
    };
  };

  return (session: SessionIdentity, organization: string | undefined): Promise<Principal> => {
    const key = `${session.userId} ${organization ?? ''}`;
    const cached = cache.get(key);
    if (cached && cached.expires > now()) return cached.principal;
    const principal = resolve(session.userId, organization?.trim() || undefined);
    if (deps.cacheTtlMs > 0) {
      if (cache.size >= MAX_CACHED) cache.clear();
      cache.set(key, { principal, expires: now() + deps.cacheTtlMs });
      // A failed read is not a decision: the next request reads again.
      principal.catch(() => {
        if (cache.get(key)?.principal === principal) cache.delete(key);
      });
    }
    return principal;
  };
}
