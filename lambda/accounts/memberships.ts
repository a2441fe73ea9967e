import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { CUSTOMERS_TABLE } from '../customers/customers-table';
import { applied } from '../storage/conditional-writes';
import type { DocumentClient } from '../storage/document-client';
import { exists, update } from '../storage/expressions';
import { queryAll } from '../storage/query-pages';

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
const membershipKey = (userId: string, customerId: string) => ({
  [PK]: `USER#${userId}`,
  [SK]: `ORG#${customerId}`,
});
/**
 * Ids no membership can have: DynamoDB refuses a sort key over 1,024 bytes (and a partition key
 * over 2,048) with a ValidationException, so a caller's overlong id in a path or in the
 * OpenAI-Organization header is "no such member", not a 500. Real ids (a Cognito sub, `cus_...`)
 * are under 64 bytes.
 */
const MAX_ID_BYTES = 256;
const impossibleId = (id: string) => Buffer.byteLength(id) > MAX_ID_BYTES;
const conditionOnlyNotExists = () => ({
  ConditionExpression: 'attribute_not_exists(#pk)',
  ExpressionAttributeNames: { '#pk': PK },
});

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
      new PutCommand({ TableName: this.tableName, Item: this.itemOf(membership) }),
    );
  }

  private itemOf(membership: Membership): Record<string, unknown> {
    return {
      ...membershipKey(membership.userId, membership.customerId),
      [BY_CREATED.partitionKey]: `MEMBERS#${membership.customerId}`,
      [BY_CREATED.sortKey]: `${membership.createdAt}#${membership.userId}`,
      ...membership,
    };
  }

  /**
   * Adds a membership unless the user already has one in the organization (an invite accepted
   * twice, or by someone who is a member already): true when this call added it.
   */
  async add(membership: Membership): Promise<boolean> {
    return applied(
      this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: this.itemOf(membership),
          ...conditionOnlyNotExists(),
        }),
      ),
    );
  }

  /** Sets a member's role; false when the membership is gone. */
  async setRole(userId: string, customerId: string, role: Membership['role']): Promise<boolean> {
    return applied(
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: membershipKey(userId, customerId),
          ...update({ set: { role } }, exists(PK)),
        }),
      ),
    );
  }

  /** Removes a membership; removing one that is gone is not an error (a retried removal). */
  async delete(userId: string, customerId: string): Promise<void> {
    await this.doc.send(
      new DeleteCommand({ TableName: this.tableName, Key: membershipKey(userId, customerId) }),
    );
  }

  /**
   * An organization's members, oldest first, through the `byCreated` index (eventually
   * consistent in AWS: a member added a moment ago may be missing from one listing).
   */
  async listForOrganization(customerId: string): Promise<Membership[]> {
    const members: Membership[] = [];
    const input = {
      TableName: this.tableName,
      IndexName: BY_CREATED.name,
      KeyConditionExpression: '#pk = :pk',
      ExpressionAttributeNames: { '#pk': BY_CREATED.partitionKey },
      ExpressionAttributeValues: { ':pk': `MEMBERS#${customerId}` },
    };
    for await (const member of queryAll(this.doc, input, membershipOf)) members.push(member);
    return members;
  }

  async get(userId: string, customerId: string): Promise<Membership | undefined> {
    if (impossibleId(userId) || impossibleId(customerId)) return undefined;
    const { Item } = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: membershipKey(userId, customerId),
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
