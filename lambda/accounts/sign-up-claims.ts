import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { CUSTOMERS_TABLE } from '../customers/customers-table';
import { applied } from '../storage/conditional-writes';
import type { DocumentClient } from '../storage/document-client';

/**
 * An address's sign-up: which user took it, the organization it creates, and whether that is done.
 * `leaseUntil` bounds a run in progress: a second call before it answers 409, one after it (the
 * first crashed) takes the claim over and finishes the same organization.
 */
export interface SignUpClaim {
  email: string;
  userId: string;
  customerId: string;
  state: 'creating' | 'complete';
  /** Epoch milliseconds until which the run holding the claim is presumed alive. */
  leaseUntil: number;
  createdAt: string;
}

const PK = CUSTOMERS_TABLE.partitionKey;
const SK = CUSTOMERS_TABLE.sortKey;
const claimKey = (email: string) => ({ [PK]: `SIGNUP#${email}`, [SK]: 'CLAIM' });
const attemptsKey = (email: string, hour: string) => ({
  [PK]: `SIGNUP#${email}`,
  [SK]: `ATTEMPTS#${hour}`,
});

/**
 * Sign-up claims and attempt counters in the customers table, keyed by the normalized address
 * (`SIGNUP#<email>`): one conditional PutItem decides which of two concurrent sign-ups of one
 * address creates the organization, and one conditional UpdateItem counts an hour's attempts.
 */
export class SignUpClaimsRepository {
  constructor(
    private readonly doc: DocumentClient,
    private readonly tableName: string,
  ) {}

  /** Takes the address for this claim; false when another claim holds it. */
  claim(claim: SignUpClaim): Promise<boolean> {
    return applied(
      this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...claimKey(claim.email), ...claim },
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': PK },
        }),
      ),
    );
  }

  async get(email: string): Promise<SignUpClaim | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: claimKey(email), ConsistentRead: true }),
    );
    if (!Item) return undefined;
    return {
      email: String(Item.email),
      userId: String(Item.userId),
      customerId: String(Item.customerId),
      state: Item.state === 'complete' ? 'complete' : 'creating',
      leaseUntil: Number(Item.leaseUntil),
      createdAt: String(Item.createdAt),
    };
  }

  /**
   * Takes over a claim whose run stopped (its lease as read, `expiredLease`, still there): false
   * when another call took it over first, so only one resumes.
   */
  takeOver(claim: SignUpClaim, expiredLease: number): Promise<boolean> {
    return applied(
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: claimKey(claim.email),
          UpdateExpression: 'SET leaseUntil = :next',
          ConditionExpression: 'leaseUntil = :seen AND userId = :user AND #state = :creating',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: {
            ':next': claim.leaseUntil,
            ':seen': expiredLease,
            ':user': claim.userId,
            ':creating': 'creating',
          },
        }),
      ),
    );
  }

  async complete(email: string, userId: string): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: claimKey(email),
        UpdateExpression: 'SET #state = :complete',
        ConditionExpression: 'userId = :user',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: { ':complete': 'complete', ':user': userId },
      }),
    );
  }

  /** Frees the address (a sign-up that cannot succeed), only while this user holds it. */
  async release(email: string, userId: string): Promise<void> {
    await applied(
      this.doc.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: claimKey(email),
          ConditionExpression: 'userId = :user',
          ExpressionAttributeValues: { ':user': userId },
        }),
      ),
    );
  }

  /**
   * Counts one attempt in the address's hour (`2026-12-07T15`); false when the hour already holds
   * `limit`. One conditional update: concurrent attempts cannot pass the limit together.
   */
  countAttempt(email: string, hour: string, limit: number): Promise<boolean> {
    return applied(
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: attemptsKey(email, hour),
          UpdateExpression: 'ADD attempts :one',
          ConditionExpression: 'attribute_not_exists(attempts) OR attempts < :limit',
          ExpressionAttributeValues: { ':one': 1, ':limit': limit },
        }),
      ),
    );
  }
}
