import { BadRequestError, NotFoundError } from '../openai/errors';
import type { InvitesRepository } from './invites-repository';
import type { Membership, MembershipsRepository } from './memberships';
import type { OrganizationOwners } from './organization-owners';

/** OpenAI's two organization roles: its `reader` is Tierline's `member`. */
export type OpenAIRole = 'owner' | 'reader';

export const openAIRoleOf = (role: Membership['role']): OpenAIRole =>
  role === 'owner' ? 'owner' : 'reader';

/** Tierline's role for OpenAI's name of it (`member` is taken too: OpenAI's audit log says it). */
export function membershipRoleOf(role: unknown, param: string): Membership['role'] {
  if (role === 'owner') return 'owner';
  if (role === 'reader' || role === 'member') return 'member';
  throw new BadRequestError(`'${param}' must be 'owner' or 'reader'.`, {
    param,
    code: role === undefined || role === null ? 'missing_required_parameter' : 'invalid_value',
  });
}

function lastOwner(): BadRequestError {
  return new BadRequestError(
    'This is the organization’s last owner: make another member an owner first.',
    { code: 'last_owner' },
  );
}

/**
 * The members of an organization (OpenAI's `/organization/users`): listed, read, given another
 * role, removed. The last owner can neither be demoted nor removed, under concurrency too
 * (organization-owners.ts); each call is idempotent, so a retried request finishes what a crashed
 * one began.
 */
export class Members {
  constructor(
    private readonly memberships: Pick<
      MembershipsRepository,
      'get' | 'setRole' | 'delete' | 'listForOrganization'
    >,
    private readonly owners: Pick<OrganizationOwners, 'add' | 'release'>,
    private readonly invites: Pick<InvitesRepository, 'list' | 'deleteAcceptedBy'>,
  ) {}

  list(customerId: string): Promise<Membership[]> {
    return this.memberships.listForOrganization(customerId);
  }

  /** The member, or 404 for a user who is not one of this organization (whatever else they are). */
  async get(customerId: string, userId: string): Promise<Membership> {
    const member = await this.memberships.get(userId, customerId);
    if (!member) {
      throw new NotFoundError(`No user found with id '${userId}' in this organization.`, {
        code: 'user_not_found',
      });
    }
    return member;
  }

  /** Gives a member `role`; the membership as it is now. */
  async setRole(customerId: string, userId: string, role: Membership['role']): Promise<Membership> {
    const member = await this.get(customerId, userId);
    if (role === 'owner') {
      if (member.role !== 'owner' && !(await this.memberships.setRole(userId, customerId, role))) {
        throw await this.goneOr(customerId, userId);
      }
      await this.owners.add(customerId, userId);
      return { ...member, role };
    }
    // A member who is not an owner has nothing to release.
    if (member.role === 'owner' && !(await this.owners.release(customerId, userId))) {
      throw lastOwner();
    }
    if (member.role !== role && !(await this.memberships.setRole(userId, customerId, role))) {
      throw await this.goneOr(customerId, userId);
    }
    return { ...member, role };
  }

  /**
   * Takes a member out of the organization. Its sessions stop within the session cache's TTL (the
   * authorizer cache's, lambda/accounts/session-principal.ts); a retried removal answers 404. The
   * invites they accepted go first: accepting again is how a crashed acceptance is finished, so an
   * accepted invite left behind would let a removed member back in with their old link.
   */
  async remove(customerId: string, userId: string): Promise<void> {
    const member = await this.get(customerId, userId);
    if (member.role === 'owner' && !(await this.owners.release(customerId, userId))) {
      throw lastOwner();
    }
    const accepted = (await this.invites.list(customerId)).filter(
      (invite) => invite.status === 'accepted' && invite.acceptedBy === userId,
    );
    for (const invite of accepted) {
      await this.invites.deleteAcceptedBy(customerId, invite.inviteId, userId);
    }
    await this.memberships.delete(userId, customerId);
  }

  /** The 404 of a member removed between the read and the write. */
  private async goneOr(customerId: string, userId: string): Promise<NotFoundError> {
    await this.get(customerId, userId);
    return new NotFoundError(`No user found with id '${userId}' in this organization.`, {
      code: 'user_not_found',
    });
  }
}
