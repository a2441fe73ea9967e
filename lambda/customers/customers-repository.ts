import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { ModelLimits, TierName } from '../../lib/config/schema';
import { applied, isConditionFailure } from '../storage/conditional-writes';
import {
  and,
  compare,
  exists,
  ifNotExists,
  notExists,
  or,
  update,
  value,
} from '../storage/expressions';
import { CUSTOMERS_TABLE, PROJECT_KEY_HASHES, projectItemKey } from './customers-table';
import type { KeyPermissions } from './key-permissions';
import type { CustomPlan } from './plans';
import type { ProjectLimits } from './project-limits';

const { partitionKey: PK, sortKey: SK, byCreatedIndex: BY_CREATED } = CUSTOMERS_TABLE;
const CUSTOMERS_PARTITION = 'CUSTOMERS';

/**
 * `creating` -> `active` -> `revoking` -> `revoked` (-> `creating` again on `customers
 * reactivate`); `deleting` -> `deleted` (`customers delete`): a deleted customer keeps its profile
 * for billing, never a key.
 */
export type CustomerStatus =
  | 'creating'
  | 'active'
  /** `customers suspend`: keys and sessions refused, everything kept; `customers restore` ends it. */
  | 'suspended'
  | 'revoking'
  | 'revoked'
  | 'deleting'
  | 'deleted';

export interface CustomerRecord {
  customerId: string;
  name: string;
  email: string;
  tier: TierName;
  status: CustomerStatus;
  /** SHA-256 of the current API key. */
  keyHash?: string;
  /** Non-secret hint of the current key (`tl_AbCd…wxyz`). */
  keyHint?: string;
  /** A key being issued: set before the key item is written, cleared after, so a crash leaves a trace to clean. */
  pendingKeyHash?: string;
  /** The key a rotation replaced, until it is revoked: a rotation interrupted after the switch is finished. */
  previousKeyHash?: string;
  /** The API Gateway API key (internal; its value is the usage identifier the authorizer returns). */
  apiGatewayKeyId?: string;
  /** The usage plan the API Gateway key is attached to. */
  usagePlanId?: string;
  /**
   * The pool key the customer shares (its usage identifier) where its tier pools keys
   * (lambda/customers/edge-key-pool.ts); such a customer has no `apiGatewayKeyId` to move or delete.
   */
  sharedUsageKey?: string;
  /**
   * The value chosen for the customer's own API Gateway key while a switch from a pooled tier makes
   * it: a retry (or a concurrent switch) finds the key by it instead of making a second one.
   */
  pendingUsageKey?: string;
  customPlan?: CustomPlan;
  /** Monthly spend limit the customer (or operator) set, in USD; absent means the tier's default or none. */
  spendLimitUsd?: number;
  /**
   * The active named keys' slots (`keyId@createdAt`): a key is created only if it can add its slot
   * while the set holds fewer than the cap, in one conditional update, so concurrent creates cannot
   * pass the cap.
   */
  namedKeySlots?: Set<string>;
  /** Set once `namedKeySlots` holds the keys created before slots existed. */
  namedKeySlotsSince?: string;
  createdAt: string;
  updatedAt: string;
  /** When `customers delete` finished (ISO time). */
  deletedAt?: string;
}

export interface KeyRecord {
  keyHash: string;
  customerId: string;
  tier: TierName;
  /** API Gateway API key value: returned by the authorizer as `usageIdentifierKey`. */
  usageIdentifierKey: string;
  /** `suspended`: its customer is suspended; `customers restore` makes it active again. */
  status: 'active' | 'revoked' | 'suspended';
  /** An Enterprise customer's per-model limits, carried here so the request path needs no extra read. */
  customModelLimits?: Record<string, ModelLimits>;
  /** The customer's monthly spend limit in micro-USD, carried here for the same reason. */
  spendLimitMicroUsd?: number;
  createdAt: string;
  /** A named key the customer created (`/v1/keys`): its public id, name and hint. Absent on the primary key. */
  keyId?: string;
  name?: string;
  keyHint?: string;
  revokedAt?: string;
  /** When the key last authenticated a request, to the hour (`recordKeyUse`). */
  lastUsedAt?: string;
  /** `admin_key` for the administration API; absent or `project_key` for inference. */
  kind?: 'project_key' | 'admin_key';
  /** The project a project key belongs to; absent: the organization's default project. */
  projectId?: string;
  /** A project key's permissions; absent: all (keys made before permissions existed). */
  permissions?: KeyPermissions;
  /** Who created it: a user id, an admin key's id, or `operator`. */
  createdBy?: string;
  /** Its project's own rate limits (lambda/customers/project-limits.ts); absent: none. */
  projectLimits?: ProjectLimits;
  /**
   * Its `customModelLimits` are an operator's custom plan's (`tierline plans set`), until a tier
   * switch ends the plan: usage tiers never write over them, however they race.
   */
  customPlanLimits?: true;
}

/** Fields of a key a change may remove. */
export type KeyLimitField = 'customModelLimits' | 'spendLimitMicroUsd' | 'customPlanLimits';

/**
 * A change of keys that belongs to one tier (usage-tier limits): it writes a key only while the key
 * is still on that tier and holds no custom plan's limits, so one that read the organization before
 * a switch or a custom plan never lands after it.
 */
export interface KeyWriteGuard {
  tier: TierName;
}

/** The fields of a key the authorizer hands on: every key of a customer carries the same values. */
export type KeyAuthorization = Partial<
  Pick<
    KeyRecord,
    | 'tier'
    | 'status'
    | 'customModelLimits'
    | 'spendLimitMicroUsd'
    | 'customPlanLimits'
    | 'usageIdentifierKey'
  >
>;

const customerKey = (customerId: string) => ({ [PK]: `CUSTOMER#${customerId}`, [SK]: 'PROFILE' });
const apiKeyKey = (keyHash: string) => ({ [PK]: `KEY#${keyHash}`, [SK]: 'KEY' });
const emailKey = (email: string) => ({ [PK]: `EMAIL#${email}`, [SK]: 'EMAIL' });
/** Named keys are listed per customer through the `byCreated` index, in their own index partition. */
const namedKeysPartition = (customerId: string) => `KEYS#${customerId}`;

function strip<T>(item: Record<string, unknown>): T {
  const {
    [PK]: _pk,
    [SK]: _sk,
    [BY_CREATED.partitionKey]: _gpk,
    [BY_CREATED.sortKey]: _gsk,
    ...rest
  } = item;
  return rest as T;
}

/** Where most callers have imported it from; it lives with the other storage helpers. */
export { createDocumentClient } from '../storage/document-client';

import type { DocumentClient } from '../storage/document-client';

/** Every read and write of customers and their keys. */
export class CustomersRepository {
  constructor(
    private readonly doc: DocumentClient,
    private readonly tableName: string,
  ) {}

  async getKey(keyHash: string): Promise<KeyRecord | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: apiKeyKey(keyHash) }),
    );
    return Item ? strip<KeyRecord>(Item) : undefined;
  }

  async getCustomer(customerId: string): Promise<CustomerRecord | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: customerKey(customerId),
        ConsistentRead: true,
      }),
    );
    return Item ? strip<CustomerRecord>(Item) : undefined;
  }

  /**
   * Reserves `email` for `customerId`. Returns the id that owns the address: `customerId` when the
   * claim succeeded, or the id of the customer that claimed it before.
   */
  async claimEmail(email: string, customerId: string): Promise<string> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...emailKey(email), customerId },
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': PK },
        }),
      );
      return customerId;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const { Item } = await this.doc.send(
        new GetCommand({ TableName: this.tableName, Key: emailKey(email), ConsistentRead: true }),
      );
      if (!Item) return this.claimEmail(email, customerId); // released in between: try again
      return Item.customerId as string;
    }
  }

  async releaseEmail(email: string, customerId: string): Promise<void> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: emailKey(email),
          ConditionExpression: 'customerId = :id',
          ExpressionAttributeValues: { ':id': customerId },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }

  /** Writes the whole customer item. */
  async putCustomer(customer: CustomerRecord): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          ...customerKey(customer.customerId),
          [BY_CREATED.partitionKey]: CUSTOMERS_PARTITION,
          [BY_CREATED.sortKey]: `${customer.createdAt}#${customer.customerId}`,
          ...customer,
        },
      }),
    );
  }

  async deleteCustomer(customerId: string): Promise<void> {
    await this.doc.send(
      new DeleteCommand({ TableName: this.tableName, Key: customerKey(customerId) }),
    );
  }

  /**
   * Sets fields of a customer item, only while the item is still in the state the caller read
   * (`expectedKeyHash`, when given, guards against a concurrent key rotation).
   */
  async updateCustomer(
    customerId: string,
    set: Partial<Omit<CustomerRecord, 'customerId' | 'createdAt'>>,
    options: {
      remove?: (keyof CustomerRecord)[];
      expectedKeyHash?: string | null;
      /** A field that must not be set yet (a value claimed once, whoever writes first). */
      absent?: keyof CustomerRecord;
    } = {},
  ): Promise<void> {
    const fields = definedFields({ ...set, updatedAt: new Date().toISOString() });
    const keyHash =
      options.expectedKeyHash === null
        ? [notExists('keyHash')]
        : options.expectedKeyHash === undefined
          ? []
          : [compare('keyHash', '=', options.expectedKeyHash)];
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: customerKey(customerId),
        ...update(
          { set: fields, remove: options.remove ?? [] },
          and(exists(PK), ...keyHash, ...(options.absent ? [notExists(options.absent)] : [])),
        ),
      }),
    );
  }

  /** Writes a new key item; fails if the hash exists (a key is never overwritten). */
  async putKey(key: KeyRecord): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...apiKeyKey(key.keyHash), ...key },
        ConditionExpression: 'attribute_not_exists(#pk)',
        ExpressionAttributeNames: { '#pk': PK },
      }),
    );
  }

  /** Updates what the authorizer sees of a key (tier, status, custom limits). No-op when the key is gone. */
  async updateKey(
    keyHash: string,
    set: KeyAuthorization & Partial<Pick<KeyRecord, 'revokedAt'>>,
    remove: KeyLimitField[] = [],
    guard?: KeyWriteGuard,
  ): Promise<void> {
    const fields = definedFields(set);
    if (Object.keys(fields).length === 0 && remove.length === 0) return;
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: apiKeyKey(keyHash),
          ...update(
            { set: fields, remove },
            guard
              ? and(exists(PK), compare('tier', '=', guard.tier), notExists('customPlanLimits'))
              : exists(PK),
          ),
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }

  /**
   * Sets a key's `lastUsedAt` to `now` unless it was set less than `resolutionMs` ago: concurrent
   * requests of a key in many processes write it once an hour at most (the others' conditions fail,
   * which is not an error). ISO times of one format compare as strings. True when this call wrote
   * it.
   */
  async recordKeyUse(keyHash: string, now: Date, resolutionMs: number): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: apiKeyKey(keyHash),
          UpdateExpression: 'SET #lastUsedAt = :now',
          ConditionExpression:
            'attribute_exists(#pk) AND (attribute_not_exists(#lastUsedAt) OR #lastUsedAt < :cutoff)',
          ExpressionAttributeNames: { '#pk': PK, '#lastUsedAt': 'lastUsedAt' },
          ExpressionAttributeValues: {
            ':now': now.toISOString(),
            ':cutoff': new Date(now.getTime() - resolutionMs + 1).toISOString(),
          },
        }),
      );
      return true;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      return false;
    }
  }

  /**
   * Fills a customer's named-key slots with the keys that exist, once (a customer whose keys
   * predate slots); a second call, or a concurrent one, changes nothing.
   */
  async initNamedKeySlots(customerId: string, slots: string[], now: Date): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: customerKey(customerId),
          ...update(
            {
              set: { namedKeySlotsSince: now.toISOString() },
              add: slots.length > 0 ? { namedKeySlots: new Set(slots) } : {},
            },
            and(exists(PK), notExists('namedKeySlotsSince')),
          ),
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }

  /**
   * Takes a named-key slot if the customer holds fewer than `max`: one conditional update, atomic
   * however many creates run at once. False when the cap is reached.
   */
  async reserveNamedKeySlot(customerId: string, slot: string, max: number): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: customerKey(customerId),
          UpdateExpression: 'ADD #slots :slot',
          ConditionExpression:
            'attribute_exists(#pk) AND (attribute_not_exists(#slots) OR size(#slots) < :max)',
          ExpressionAttributeNames: { '#pk': PK, '#slots': 'namedKeySlots' },
          ExpressionAttributeValues: { ':slot': new Set([slot]), ':max': max },
        }),
      );
      return true;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      return false;
    }
  }

  /** Gives slots back (a revoked key, a failed create). Idempotent: a slot given back twice is gone once. */
  async releaseNamedKeySlots(customerId: string, slots: string[]): Promise<void> {
    if (slots.length === 0) return;
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: customerKey(customerId),
          UpdateExpression: 'DELETE #slots :slots',
          ConditionExpression: 'attribute_exists(#pk)',
          ExpressionAttributeNames: { '#pk': PK, '#slots': 'namedKeySlots' },
          ExpressionAttributeValues: { ':slots': new Set(slots) },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }

  /**
   * Notes a project key's hash on its project's item while the project is active: one conditional
   * write on the item an archive writes, so the two are ordered. False when the project is archived
   * (or not stored). An archive reads the hashes back in its own write and revokes each.
   */
  async registerProjectKey(customerId: string, projectId: string, keyHash: string) {
    return applied(
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: projectItemKey(customerId, projectId),
          ...update(
            { add: { [PROJECT_KEY_HASHES]: new Set([keyHash]) } },
            compare('status', '=', 'active'),
          ),
        }),
      ),
    );
  }

  /** Takes a revoked key's hash off its project's item (the set stays as small as the keys). */
  async forgetProjectKey(customerId: string, projectId: string, keyHash: string): Promise<void> {
    await applied(
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: projectItemKey(customerId, projectId),
          ...update({ delete: { [PROJECT_KEY_HASHES]: new Set([keyHash]) } }, exists(PK)),
        }),
      ),
    );
  }

  /**
   * Revokes a key by its hash, and bars the hash when no key holds it yet: a create that noted the
   * hash on its project before an archive then finds its write refused (`putNamedKey` needs the
   * hash free). Answers the key as it was, undefined when none was written.
   */
  async revokeOrBar(keyHash: string, revokedAt: string): Promise<KeyRecord | undefined> {
    const { Attributes } = await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: apiKeyKey(keyHash),
        ...update({
          set: { status: 'revoked', revokedAt: ifNotExists('revokedAt', value(revokedAt)) },
        }),
        ReturnValues: 'ALL_OLD',
      }),
    );
    return Attributes ? strip<KeyRecord>(Attributes) : undefined;
  }

  /** Writes a named key (`/v1/keys`), listed under its customer; fails if the hash exists. */
  async putNamedKey(key: KeyRecord & { keyId: string; name: string }): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          ...apiKeyKey(key.keyHash),
          [BY_CREATED.partitionKey]: namedKeysPartition(key.customerId),
          [BY_CREATED.sortKey]: `${key.createdAt}#${key.keyId}`,
          ...key,
        },
        ConditionExpression: 'attribute_not_exists(#pk)',
        ExpressionAttributeNames: { '#pk': PK },
      }),
    );
  }

  /** The named keys of one customer, oldest first (an index query: it only ever sees that customer's keys). */
  async listNamedKeys(
    customerId: string,
  ): Promise<(KeyRecord & { keyId: string; name: string })[]> {
    const keys: (KeyRecord & { keyId: string; name: string })[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: BY_CREATED.name,
          KeyConditionExpression: '#gpk = :keys',
          ExpressionAttributeNames: { '#gpk': BY_CREATED.partitionKey },
          ExpressionAttributeValues: { ':keys': namedKeysPartition(customerId) },
          ExclusiveStartKey: start,
        }),
      );
      for (const item of page.Items ?? []) keys.push(strip(item));
      start = page.LastEvaluatedKey;
    } while (start);
    return keys;
  }

  /**
   * Updates what the authorizer sees on every key of a customer: its primary key first, then each
   * named key (a tier change, custom limits, a spend limit or a revocation must reach all of them).
   */
  /**
   * Puts a project's limits on one of its keys, unless the key already has a later version of
   * them: changes written out of order (two modifies at once, a retry) end with the latest. False
   * when the key is gone or newer.
   */
  async setProjectLimits(keyHash: string, limits: ProjectLimits): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: apiKeyKey(keyHash),
          ...update(
            { set: { projectLimits: limits, projectLimitsVersion: limits.version } },
            and(
              exists(PK),
              or(
                notExists('projectLimitsVersion'),
                compare('projectLimitsVersion', '<', limits.version),
              ),
            ),
          ),
        }),
      );
      return true;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      return false;
    }
  }

  async updateCustomerKeys(
    customerId: string,
    primaryKeyHash: string | undefined,
    set: KeyAuthorization,
    remove: KeyLimitField[] = [],
    /** Writes only the keys the guard holds for (see {@link KeyWriteGuard}). */
    guard?: KeyWriteGuard,
  ): Promise<void> {
    if (primaryKeyHash) await this.updateKey(primaryKeyHash, set, remove, guard);
    for (const key of await this.listNamedKeys(customerId)) {
      // A revoked named key stays revoked whatever else changes.
      if (key.status === 'revoked') continue;
      await this.updateKey(key.keyHash, set, remove, guard);
    }
  }

  /**
   * Moves every key of a customer in status `from` to `to` (suspend: active -> suspended; restore:
   * suspended -> active), each in one conditional write: a key revoked meanwhile stays revoked.
   * Answers how many moved; a re-run moves what an interrupted one left.
   */
  async switchKeysStatus(
    customerId: string,
    primaryKeyHash: string | undefined,
    from: KeyRecord['status'],
    to: KeyRecord['status'],
  ): Promise<number> {
    const hashes = [
      ...(primaryKeyHash ? [primaryKeyHash] : []),
      ...(await this.listNamedKeys(customerId)).map((key) => key.keyHash),
    ];
    let moved = 0;
    for (const keyHash of hashes) {
      const write = this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: apiKeyKey(keyHash),
          ...update({ set: { status: to } }, compare('status', '=', from)),
        }),
      );
      if (await applied(write)) moved += 1;
    }
    return moved;
  }

  async deleteKey(keyHash: string): Promise<void> {
    await this.doc.send(new DeleteCommand({ TableName: this.tableName, Key: apiKeyKey(keyHash) }));
  }

  /** Customers, oldest first, a page at a time. */
  async listCustomers(
    options: { limit?: number; cursor?: string } = {},
  ): Promise<{ customers: CustomerRecord[]; cursor?: string }> {
    const { Items = [], LastEvaluatedKey } = await this.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: BY_CREATED.name,
        KeyConditionExpression: '#gpk = :customers',
        ExpressionAttributeNames: { '#gpk': BY_CREATED.partitionKey },
        ExpressionAttributeValues: { ':customers': CUSTOMERS_PARTITION },
        Limit: options.limit,
        ExclusiveStartKey: options.cursor
          ? JSON.parse(Buffer.from(options.cursor, 'base64url').toString())
          : undefined,
      }),
    );
    return {
      customers: Items.map((item) => strip<CustomerRecord>(item)),
      cursor: LastEvaluatedKey
        ? Buffer.from(JSON.stringify(LastEvaluatedKey)).toString('base64url')
        : undefined,
    };
  }
}

/** The fields given a value: an undefined field is left as it is (it is not removed). */
function definedFields(fields: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));
}
