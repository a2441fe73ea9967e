import { GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { CUSTOMERS_TABLE } from '../customers/customers-table';
import type { DocumentClient } from '../storage/document-client';

/** A user's place in an organization (a customer). */
export interface Membership {
  /** Cognito `sub`. */
  userId: string;
  /** The organization: today's customer id. */
  customerId: string;
  role: 'owner' | 'member';
  /** The address the user signed up with, for the members list. */
  email: string;
  createdAt: string;
}

const PK = CUSTOMERS_TABLE.partitionKey;
const SK = CUSTOMERS_TABLE.sortKey;
const BY_CREATED = CUSTOMERS_TABLE.byCreatedIndex;

/**
 * Memberships in the customers table, one item each: `USER#<userId>` / `ORG#<customerId>`, so a
 * session's membership is one GetItem and a user's organizations (the console's switcher) one
 * Query; the same item is in the `byCreated` index under `MEMBERS#<customerId>`, so an
 * organization's members are one Query too. One item serves both paths: no transaction (which
 * local mode's dynalite lacks) and nothing to keep in step.
 */
export class MembershipsRepository {
  constructor(
    private readonly doc: DocumentClient,
    private readonly tableName: string,
  ) {}

  /** Adds or replaces a membership (a role change is a put of the same item). */
  async put(membership: Membership): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          [PK]: `USER#${membership.userId}`,
          [SK]: `ORG#${membership.customerId}`,
          [BY_CREATED.partitionKey]: `MEMBERS#${membership.customerId}`,
          [BY_CREATED.sortKey]: `${membership.createdAt}#${membership.userId}`,
          ...membership,
        },
      }),
    );
  }

  async get(userId: string, customerId: string): Promise<Membership | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { [PK]: `USER#${userId}`, [SK]: `ORG#${customerId}` },
        // A removed member must lose access at once, not after a stale read.
        ConsistentRead: true,
      }),
    );
    return Item ? membershipOf(Item) : undefined;
  }

  /** The user's organizations, by organization id. */
  async listForUser(userId: string): Promise<Membership[]> {
    const memberships: Membership[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :org)',
          ExpressionAttributeNames: { '#pk': PK, '#sk': SK },
          ExpressionAttributeValues: { ':pk': `USER#${userId}`, ':org': 'ORG#' },
          ExclusiveStartKey: start,
        }),
      );
      memberships.push(...(page.Items ?? []).map(membershipOf));
      start = page.LastEvaluatedKey;
    } while (start);
    return memberships;
  }
}

function membershipOf(item: Record<string, unknown>): Membership {
  return {
    userId: String(item.userId),
    customerId: String(item.customerId),
    role: item.role === 'owner' ? 'owner' : 'member',
    email: String(item.email ?? ''),
    createdAt: String(item.createdAt),
  };
}
