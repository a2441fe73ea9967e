import * as z from 'zod/mini';

/** The Free organization a verified user's sign-up made (`POST /v1/account/organizations`). */
export const signedUpOrganizationShape = z.object({
  object: z.literal('organization'),
  id: z.string(),
  name: z.string(),
  tier: z.literal('free'),
  role: z.literal('owner'),
  default_project_id: z.string(),
  /** The first project key: in the answer that created the organization only, null after. */
  first_key: z.nullable(
    z.object({ value: z.string().check(z.regex(/^tl_[0-9A-Za-z]{49}$/)), hint: z.string() }),
  ),
  /** False when this user's organization already existed (a repeated call). */
  created: z.boolean(),
});
export type SignedUpOrganization = z.output<typeof signedUpOrganizationShape>;

/** One of the signed-in user's organizations (the console's switcher). */
export const organizationMembershipShape = z.object({
  object: z.literal('organization'),
  id: z.string(),
  name: z.string(),
  tier: z.enum(['free', 'developer', 'enterprise']),
  role: z.enum(['owner', 'member']),
  /** `inactive`: suspended or being deleted; its sessions are refused. */
  status: z.enum(['active', 'inactive']),
});
export type OrganizationMembership = z.output<typeof organizationMembershipShape>;

export const organizationMembershipListShape = z.object({
  object: z.literal('list'),
  data: z.array(organizationMembershipShape),
});
