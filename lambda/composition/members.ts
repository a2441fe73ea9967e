import type { InviteMailer, UserDirectory } from '../accounts/invites';
import { Invites } from '../accounts/invites';
import { InvitesRepository } from '../accounts/invites-repository';
import { Members } from '../accounts/members';
import { MembershipsRepository } from '../accounts/memberships';
import { OrganizationOwners } from '../accounts/organization-owners';
import type { Engines } from './engines';
import { customersRepository } from './repositories';

/** What invitations need of the outside world: mail, the user pool, the console's address. */
export interface InvitationEngines {
  mailer: InviteMailer;
  users: UserDirectory;
  /** Read when an invite is sent (local mode knows its console's port only once it listens). */
  consoleUrl: () => string | Promise<string>;
}

/**
 * Members and invites (`/organization/users`, `/organization/invites`), in the customers table
 * beside the memberships: no new table. Undefined where the deployment has no invitation engines
 * (no user pool): the routes then answer 404.
 */
export function memberServices(engines: Pick<Engines, 'doc' | 'tables' | 'now' | 'invitations'>) {
  const invitations = engines.invitations;
  if (!invitations) return undefined;
  const memberships = new MembershipsRepository(engines.doc, engines.tables.customers);
  const customers = customersRepository(engines);
  const owners = new OrganizationOwners(engines.doc, engines.tables.customers, memberships);
  const invites = new InvitesRepository(engines.doc, engines.tables.customers);
  return {
    members: new Members(memberships, owners, invites),
    invites: new Invites({
      invites,
      memberships,
      owners,
      ...invitations,
      organizationActive: async (customerId) =>
        (await customers.getCustomer(customerId))?.status === 'active',
      now: () => engines.now?.() ?? new Date(),
    }),
  };
}
