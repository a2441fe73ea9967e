import * as z from 'zod/mini';
import { count, nullableCount } from './common';

/**
 * OpenAI's `User` and `Invite` (the administration API's `/organization/users` and
 * `/organization/invites`) with the fields Tierline fills, and the answer of accepting an invite
 * (Tierline's own route: OpenAI accepts invites on its website).
 */

const list = <T extends z.ZodMiniType>(item: T) =>
  z.object({
    object: z.literal('list'),
    data: z.array(item),
    first_id: z.nullable(z.string()),
    last_id: z.nullable(z.string()),
    has_more: z.boolean(),
  });

export const organizationUserShape = z.object({
  object: z.literal('organization.user'),
  id: z.string(),
  name: z.string(),
  email: z.string(),
  role: z.enum(['owner', 'reader']),
  added_at: count(),
});
export const organizationUserListShape = list(organizationUserShape);
export const organizationUserDeletedShape = z.object({
  object: z.literal('organization.user.deleted'),
  id: z.string(),
  deleted: z.literal(true),
});

export const inviteShape = z.object({
  object: z.literal('organization.invite'),
  id: z.string(),
  email: z.string(),
  role: z.enum(['owner', 'reader']),
  status: z.enum(['accepted', 'expired', 'pending']),
  created_at: count(),
  expires_at: count(),
  accepted_at: nullableCount(),
  projects: z.array(z.object({ id: z.string(), role: z.enum(['member', 'owner']) })),
});
export const inviteListShape = list(inviteShape);
export const inviteDeletedShape = z.object({
  object: z.literal('organization.invite.deleted'),
  id: z.string(),
  deleted: z.literal(true),
});
export const inviteAcceptedShape = z.object({
  object: z.literal('organization.invite.accepted'),
  organization_id: z.string(),
  user: organizationUserShape,
});
