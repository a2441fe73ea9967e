import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import { CUSTOMERS_TABLE } from '../customers/customers-table';
import type { DocumentClient } from '../storage/document-client';
import { InvitesRepository } from './invites-repository';
import { MembershipsRepository } from './memberships';

/**
 * Removes the people of a deleted organization (`customers delete`): every membership (their
 * sessions find no organization at once), every invite (their links stop working), and the owners
 * guard. Idempotent: a re-run removes what an interrupted one, or a membership the index showed
 * late, left.
 */
export class OrganizationPeople {
  private readonly memberships: MembershipsRepository;
  private readonly invites: InvitesRepository;

  constructor(
    private readonly doc: DocumentClient,
    private readonly tableName: string,
  ) {
    this.memberships = new MembershipsRepository(doc, tableName);
    this.invites = new InvitesRepository(doc, tableName);
  }

  async erase(customerId: string): Promise<{ members: number; invites: number }> {
    const members = await this.memberships.listForOrganization(customerId);
    for (const member of members) await this.memberships.delete(member.userId, customerId);
    const invites = await this.invites.list(customerId);
    for (const invite of invites) await this.invites.delete(customerId, invite.inviteId);
    await this.doc.send(
      new DeleteCommand({
        TableName: this.tableName,
        Key: {
          [CUSTOMERS_TABLE.partitionKey]: `ORG#${customerId}`,
          [CUSTOMERS_TABLE.sortKey]: 'OWNERS',
        },
      }),
    );
    return { members: members.length, invites: invites.length };
  }
}
