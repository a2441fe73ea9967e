import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { CUSTOMERS_TABLE } from '../customers/customers-table';
import { applied } from '../storage/conditional-writes';
import type { DocumentClient } from '../storage/document-client';
import {
  and,
  compare,
  contains,
  exists,
  not,
  or,
  size,
  update,
  value,
} from '../storage/expressions';
import type { Membership } from './memberships';

const PK = CUSTOMERS_TABLE.partitionKey;
const SK = CUSTOMERS_TABLE.sortKey;
const ownersKey = (customerId: string) => ({ [PK]: `ORG#${customerId}`, [SK]: 'OWNERS' });

/**
 * The guard that keeps an organization from losing its last owner: one item per organization,
 * `ORG#<customerId>` / `OWNERS`, holding the owners' user ids as a string set. The memberships
 * stay the truth of who is an owner (a session reads its own); the set only decides, in one
 * conditional write, whether an owner may stop being one. Two owners demoting each other at once
 * are serialized on this item: the first leaves one owner, the second finds that one and is
 * refused. DynamoDB transactions would tie the set and the membership together, but local mode's
 * dynalite has none, so the writes are ordered to keep the set a subset of the real owners:
 * a promotion writes the membership first and the set after, a demotion or removal the set first
 * and the membership after. A crash between the two leaves the set short of an owner (a refusal
 * too many, never an organization without an owner), and the retried request completes both.
 */
export class OrganizationOwners {
  constructor(
    private readonly doc: DocumentClient,
    private readonly tableName: string,
    private readonly members: { listForOrganization(customerId: string): Promise<Membership[]> },
  ) {}

  /** Counts `userId` among the owners (after its membership says owner). Idempotent. */
  async add(customerId: string, userId: string): Promise<void> {
    await this.ensure(customerId);
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: ownersKey(customerId),
        ...update({ add: { owners: new Set([userId]) } }),
      }),
    );
  }

  /**
   * Takes `userId` out of the owners when another owner stays; false (nothing written) when it is
   * the last one. A user already out of the set (a retry after a crash) passes while the set
   * still names an owner.
   */
  async release(customerId: string, userId: string): Promise<boolean> {
    await this.ensure(customerId);
    const another = or(
      and(contains('owners', userId), compare(size('owners'), '>', value(1))),
      and(not(contains('owners', userId)), compare(size('owners'), '>=', value(1))),
    );
    return applied(
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: ownersKey(customerId),
          ...update({ delete: { owners: new Set([userId]) } }, and(exists('owners'), another)),
        }),
      ),
    );
  }

  /**
   * Builds the set from the memberships the first time an organization's owners change (its
   * first owner was written by sign-up or the operator, which do not know this item). Conditional,
   * so two first changes at once build it once.
   */
  private async ensure(customerId: string): Promise<void> {
    const { Item } = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: ownersKey(customerId),
        ConsistentRead: true,
      }),
    );
    if (Item) return;
    const owners = (await this.members.listForOrganization(customerId))
      .filter((member) => member.role === 'owner')
      .map((member) => member.userId);
    await applied(
      this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...ownersKey(customerId),
            ...(owners.length > 0 ? { owners: new Set(owners) } : {}),
          },
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': PK },
        }),
      ),
    );
  }
}
