import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { CUSTOMERS_TABLE } from '../customers/customers-table';
import { applied } from '../storage/conditional-writes';
import type { DocumentClient } from '../storage/document-client';
import { and, compare, ifNotExists, or, update, value } from '../storage/expressions';
import { queryAll } from '../storage/query-pages';
import type { Membership } from './memberships';

/** An invitation to an organization, as stored: never the token, only its SHA-256. */
export interface InviteRecord {
  /** `invite-` + 24 hex: one per (organization, address), so a repeated invite is the same one. */
  inviteId: string;
  customerId: string;
  /** Lower case: addresses are compared without case. */
  email: string;
  role: Membership['role'];
  status: 'pending' | 'accepted';
  /** SHA-256 (hex) of the link's secret. */
  tokenHash: string;
  createdAt: string;
  expiresAt: string;
  /** Who sent it: a user id or an admin key's id. */
  invitedBy: string;
  acceptedAt?: string;
  /** The user whose session accepted it (a retried accept by the same user answers the same). */
  acceptedBy?: string;
}

const PK = CUSTOMERS_TABLE.partitionKey;
const SK = CUSTOMERS_TABLE.sortKey;
const invitesPartition = (customerId: string) => `INVITES#${customerId}`;
const inviteKey = (customerId: string, inviteId: string) => ({
  [PK]: invitesPartition(customerId),
  [SK]: inviteId,
});

function recordOf(item: Record<string, unknown>): InviteRecord {
  const { [PK]: _pk, [SK]: _sk, ...record } = item;
  return record as unknown as InviteRecord;
}

/**
 * Invites in the customers table, one partition per organization (`INVITES#<customerId>` /
 * `<inviteId>`): listing is one Query, and the link names the organization and the invite, so
 * accepting is one GetItem and one conditional UpdateItem.
 */
export class InvitesRepository {
  constructor(
    private readonly doc: DocumentClient,
    private readonly tableName: string,
  ) {}

  /** Writes the invite, replacing an earlier one to the same address (its old link stops working). */
  async put(invite: InviteRecord): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...inviteKey(invite.customerId, invite.inviteId), ...invite },
      }),
    );
  }

  async get(customerId: string, inviteId: string): Promise<InviteRecord | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: inviteKey(customerId, inviteId),
        ConsistentRead: true,
      }),
    );
    return Item ? recordOf(Item) : undefined;
  }

  async list(customerId: string): Promise<InviteRecord[]> {
    const invites: InviteRecord[] = [];
    const input = {
      TableName: this.tableName,
      KeyConditionExpression: '#pk = :pk',
      ExpressionAttributeNames: { '#pk': PK },
      ExpressionAttributeValues: { ':pk': invitesPartition(customerId) },
      ConsistentRead: true,
    };
    for await (const invite of queryAll(this.doc, input, recordOf)) invites.push(invite);
    return invites;
  }

  /** Deletes an invite whatever its state (its organization is deleted). */
  async delete(customerId: string, inviteId: string): Promise<void> {
    await this.doc.send(
      new DeleteCommand({ TableName: this.tableName, Key: inviteKey(customerId, inviteId) }),
    );
  }

  /** Deletes a pending invite; false when it is accepted (or gone). */
  async deletePending(customerId: string, inviteId: string): Promise<boolean> {
    return applied(
      this.doc.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: inviteKey(customerId, inviteId),
          ConditionExpression: '#status = :pending',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':pending': 'pending' },
        }),
      ),
    );
  }

  /**
   * Deletes the invite `userId` accepted, when it still is that one (a newer invite to the same
   * address, pending, stays): a removed member's old link must not let them back in.
   */
  async deleteAcceptedBy(customerId: string, inviteId: string, userId: string): Promise<void> {
    await applied(
      this.doc.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: inviteKey(customerId, inviteId),
          ConditionExpression: '#status = :accepted AND acceptedBy = :user',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':accepted': 'accepted', ':user': userId },
        }),
      ),
    );
  }

  /**
   * Marks the invite accepted by `userId`, once: while it is pending, unexpired and still holds
   * this token, or when this same user already accepted it with this token (a retry). False when
   * neither holds.
   */
  async accept(
    invite: Pick<InviteRecord, 'customerId' | 'inviteId' | 'tokenHash'>,
    userId: string,
    now: Date,
  ): Promise<boolean> {
    const pending = and(
      compare('status', '=', 'pending'),
      compare('expiresAt', '>', now.toISOString()),
    );
    const acceptedByThisUser = and(
      compare('status', '=', 'accepted'),
      compare('acceptedBy', '=', userId),
    );
    return applied(
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: inviteKey(invite.customerId, invite.inviteId),
          ...update(
            {
              set: {
                status: 'accepted',
                acceptedBy: userId,
                // A retry keeps the time of the first acceptance.
                acceptedAt: ifNotExists('acceptedAt', value(now.toISOString())),
              },
            },
            and(compare('tokenHash', '=', invite.tokenHash), or(pending, acceptedByThisUser)),
          ),
        }),
      ),
    );
  }
}
