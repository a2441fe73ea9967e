import { inviteStatusOf } from './invites';
import type { InviteRecord } from './invites-repository';
import { openAIRoleOf } from './members';
import type { Membership } from './memberships';

/**
 * Members and invites in OpenAI's shapes (`User`, `Invite` of the published spec;
 * test/e2e/organization-members.test.ts validates every answer against it).
 */

const seconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);

export function userView(member: Membership) {
  return {
    object: 'organization.user' as const,
    id: member.userId,
    // Tierline keeps no display name: the address is what the console shows.
    name: member.email,
    email: member.email,
    role: openAIRoleOf(member.role),
    added_at: seconds(member.createdAt),
  };
}

export function inviteView(invite: InviteRecord, now: Date) {
  return {
    object: 'organization.invite' as const,
    id: invite.inviteId,
    email: invite.email,
    role: openAIRoleOf(invite.role),
    status: inviteStatusOf(invite, now),
    created_at: seconds(invite.createdAt),
    expires_at: seconds(invite.expiresAt),
    accepted_at: invite.acceptedAt ? seconds(invite.acceptedAt) : null,
    // Every member sees every project here: no per-project membership yet.
    projects: [],
  };
}
