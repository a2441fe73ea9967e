import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { CUSTOMERS_TABLE } from '../customers/customers-table';
import { applied, isConditionFailure } from '../storage/conditional-writes';
import type { DocumentClient } from '../storage/document-client';
import {
  and,
  compare,
  conditionOnly,
  contains,
  ifNotExists,
  notExists,
  or,
  size,
  update,
  value,
} from '../storage/expressions';
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
  /**
   * SHA-256 (hex) of each mailed link's secret while it is pending: sending it again adds a link,
   * so every mail the person got works (`MAX_INVITE_LINKS` at most).
   */
  tokenHashes: string[];
  createdAt: string;
  expiresAt: string;
  /** Who sent it: a user id or an admin key's id. */
  invitedBy: string;
  acceptedAt?: string;
  /** The user whose session accepted it (a retried accept by the same user answers the same). */
  acceptedBy?: string;
}

const PK = CUSTOMERS_TABLE.partitionKey;
/** Sends that find the invite changed (deleted, expired and sent again) before one gives up. */
const SEND_ATTEMPTS = 3;
const SK = CUSTOMERS_TABLE.sortKey;
const invitesPartition = (customerId: string) => `INVITES#${customerId}`;
const inviteKey = (customerId: string, inviteId: string) => ({
  [PK]: invitesPartition(customerId),
  [SK]: inviteId,
});

/** Links one pending invite may have: enough for every resend a person needs, bounded. */
export const MAX_INVITE_LINKS = 10;

function recordOf(item: Record<string, unknown>): InviteRecord {
  const { [PK]: _pk, [SK]: _sk, tokenHash, tokenHashes, ...record } = item;
  // Invites stored before links were a set hold one `tokenHash`.
  const hashes = tokenHashes instanceof Set ? [...tokenHashes].map(String) : [];
  if (typeof tokenHash === 'string') hashes.push(tokenHash);
  return { ...record, tokenHashes: hashes } as unknown as InviteRecord;
}

/** What a send writes: a pending invite's own fields, never an acceptance's. */
function sentFields(invite: Omit<InviteRecord, 'tokenHashes'>) {
  const { inviteId, customerId, email, role, createdAt, expiresAt, invitedBy } = invite;
  return {
    inviteId,
    customerId,
    email,
    role,
    status: 'pending' as const,
    createdAt,
    expiresAt,
    invitedBy,
  };
}

/** Why an invite could not be sent again as it is. */
export type SendRefusal = 'accepted' | 'too_many_links';

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

  /**
   * Sends an invite: adds its link to the pending, unexpired invite to that address (one
   * conditional write, so concurrent sends each keep their link), or writes it fresh when there is
   * none or it expired (its old links die with it). An accepted invite is not written back to
   * pending. Answers the invite as stored, or why it was not sent.
   */
  async send(
    invite: Omit<InviteRecord, 'tokenHashes'> & { tokenHash: string },
    now: Date,
  ): Promise<InviteRecord | SendRefusal> {
    const { tokenHash } = invite;
    const fields = sentFields(invite);
    const key = inviteKey(invite.customerId, invite.inviteId);
    for (let attempt = 1; attempt <= SEND_ATTEMPTS; attempt++) {
      const { status: _status, ...rest } = fields;
      const addLink = this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: key,
          ...update(
            {
              set: { ...rest, status: 'pending' },
              add: { tokenHashes: new Set([tokenHash]) },
              remove: ['tokenHash'],
            },
            or(
              notExists(PK),
              and(
                compare('status', '=', 'pending'),
                compare('expiresAt', '>', now.toISOString()),
                or(notExists('tokenHashes'), compare(size('tokenHashes'), '<', MAX_INVITE_LINKS)),
              ),
            ),
          ),
          ReturnValues: 'ALL_NEW',
        }),
      );
      try {
        return recordOf((await addLink).Attributes ?? {});
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
      }
      const stored = await this.get(invite.customerId, invite.inviteId);
      if (!stored) continue; // deleted meanwhile: add to nothing again
      const expired = stored.status === 'pending' && stored.expiresAt <= now.toISOString();
      if (stored.status === 'pending' && !expired) {
        if (stored.tokenHashes.length >= MAX_INVITE_LINKS) return 'too_many_links';
        continue; // another send wrote it fresh meanwhile: add this link to that one
      }
      if (stored.status === 'accepted') return 'accepted';
      // Expired: a fresh invite, if no one sent it again first.
      const fresh = { ...fields, status: 'pending' as const, tokenHashes: new Set([tokenHash]) };
      const replaced = await applied(
        this.doc.send(
          new PutCommand({
            TableName: this.tableName,
            Item: { ...key, ...fresh },
            ...conditionOnly(
              and(compare('status', '=', 'pending'), compare('expiresAt', '=', stored.expiresAt)),
            ),
          }),
        ),
      );
      if (replaced) return { ...fields, status: 'pending', tokenHashes: [tokenHash] };
    }
    throw new Error(`Invite ${invite.inviteId} changed under ${SEND_ATTEMPTS} sends in a row.`);
  }

  /**
   * Writes an invite whole over an accepted one whose person is no longer a member (a removal
   * whose clean-up did not finish), while it is still that acceptance. False when it changed.
   */
  async replaceAccepted(
    invite: Omit<InviteRecord, 'tokenHashes'> & { tokenHash: string },
    acceptedBy: string | undefined,
  ): Promise<boolean> {
    const { tokenHash } = invite;
    const fields = sentFields(invite);
    return applied(
      this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...inviteKey(invite.customerId, invite.inviteId),
            ...fields,
            tokenHashes: new Set([tokenHash]),
          },
          ...conditionOnly(
            and(
              compare('status', '=', 'accepted'),
              acceptedBy === undefined
                ? notExists('acceptedBy')
                : compare('acceptedBy', '=', acceptedBy),
            ),
          ),
        }),
      ),
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
   * this link, or when this same user already accepted it (a retry, through any of its links).
   * False when neither holds.
   */
  async accept(
    invite: Pick<InviteRecord, 'customerId' | 'inviteId'>,
    tokenHash: string,
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
            and(
              or(compare('tokenHash', '=', tokenHash), contains('tokenHashes', tokenHash)),
              or(pending, acceptedByThisUser),
            ),
          ),
        }),
      ),
    );
  }
}
