import { BadRequestError, NotFoundError } from '../openai/errors';
import { asBodyObject, bodySchema, displayNameField } from '../openai/request-body';
import type { ApiKey, CreatedApiKey } from '../openai/shapes/keys';
import { isConditionFailure } from '../storage/conditional-writes';
import { ADMIN_API_KEY_PREFIX, API_KEY_PREFIX, issueApiKey, randomBase62 } from './api-keys';
import { keyGrants, type Principal } from './authenticate';
import type { CustomersRepository, KeyRecord } from './customers-repository';
import { defaultProjectId, type KeyPermissions } from './key-permissions';

/**
 * A customer's named API keys (`/v1/keys`): several keys per customer, each with the same format
 * and hashing as the primary key the operator issues, and each answering to the customer's limits
 * and usage plan (it carries the same tier, limits, spend limit and API Gateway usage identifier).
 * The primary key is listed too; it stays the operator's to rotate.
 */

/**
 * Active named keys per customer, held atomically: each active key holds a slot in its customer's
 * item, taken by one conditional update (`reserveNamedKeySlot`), so concurrent creates never pass
 * the cap.
 */
export const MAX_ACTIVE_NAMED_KEYS = 50;
/**
 * A slot whose key is not active (a create that died between taking its slot and writing its key, a
 * key revoked by the operator) is freed once it is older than this: far longer than a create's two
 * writes take.
 */
export const ORPHAN_SLOT_GRACE_MS = 60_000;
const MAX_NAME_LENGTH = 64;

/** A key's create body: its name here; `permissions` is judged by key-permissions.ts. */
const keyNameBody = bodySchema(
  {
    name: displayNameField(
      "'name' is required: a short text that says where the key is used.",
      MAX_NAME_LENGTH,
    ),
  },
  { unknownField: 'ignore' },
);

export { PRIMARY_KEY_ID } from './authenticate';

import { PRIMARY_KEY_ID } from './authenticate';

/** A key as `/v1/keys` shows it (`openai/shapes/keys.ts`). */
export type ApiKeyView = ApiKey;

/** What a new key may do: a project key of one project with its permissions, or an admin key. */
export type KeyGrant =
  | { kind: 'project_key'; projectId: string; permissions: KeyPermissions }
  | { kind: 'admin_key' };

/** A named key item as stored (`listNamedKeys`). */
export type NamedKeyRecord = KeyRecord & { keyId: string; name: string };

export const isAdminKey = (key: Pick<KeyRecord, 'kind'>) => key.kind === 'admin_key';

/** Who made a key, as the key list and the audit log name them. */
export function actorOf(principal: Pick<Principal, 'kind' | 'userId' | 'keyId'>): string {
  if (principal.kind === 'session') return principal.userId ?? 'session';
  return principal.keyId ?? 'key_unknown';
}

type Repository = Pick<
  CustomersRepository,
  | 'getCustomer'
  | 'getKey'
  | 'putNamedKey'
  | 'listNamedKeys'
  | 'updateKey'
  | 'initNamedKeySlots'
  | 'reserveNamedKeySlot'
  | 'releaseNamedKeySlots'
  | 'registerProjectKey'
  | 'forgetProjectKey'
  | 'revokeOrBar'
>;

/** A project key's create that an archive of its project came before. */
function projectArchived(projectId: string): BadRequestError {
  return new BadRequestError(`Project '${projectId}' is archived: use an active project.`, {
    code: 'project_archived',
    param: 'project_id',
  });
}

/** A key's slot: its id and creation time, so an orphaned slot's age is known without another read. */
export const slotOf = (key: { keyId: string; createdAt: string }) =>
  `${key.keyId}@${key.createdAt}`;

const seconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);

function namedView(key: NamedKeyRecord): ApiKeyView {
  return {
    object: 'api_key',
    id: key.keyId,
    name: key.name,
    hint: key.keyHint ?? '',
    status: key.status,
    primary: false,
    created_at: seconds(key.createdAt),
    revoked_at: key.revokedAt ? seconds(key.revokedAt) : null,
    last_used_at: key.lastUsedAt ? seconds(key.lastUsedAt) : null,
    ...keyScope(key),
  };
}

/** A key's project, permissions and creator as the key list shows them (old keys migrate on read). */
function keyScope(
  key: Pick<KeyRecord, 'customerId' | 'kind' | 'projectId' | 'permissions' | 'createdBy'>,
) {
  const grants = keyGrants(key);
  const permissions = grants.permissions ?? 'all';
  return {
    project_id: grants.projectId,
    permissions: typeof permissions === 'string' ? permissions : permissions.restricted,
    created_by: key.createdBy ?? null,
  };
}

/** Validates a key name: printable text, 1 to 64 characters after trimming. */
export function parseKeyName(body: unknown): string {
  return String(keyNameBody.check(asBodyObject(body)).name).trim();
}

export class CustomerKeys {
  constructor(
    private readonly repository: Repository,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Every named key of the caller's organization, admin keys included, oldest first. */
  records(principal: Principal): Promise<NamedKeyRecord[]> {
    return this.repository.listNamedKeys(principal.customerId);
  }

  /** The project a key belongs to (its organization's default one for keys made before projects). */
  projectOf(key: NamedKeyRecord): string {
    return keyGrants(key).projectId;
  }

  /** The primary key, then the named keys, oldest first. */
  async list(principal: Principal): Promise<ApiKeyView[]> {
    const customer = await this.repository.getCustomer(principal.customerId);
    if (!customer)
      throw new NotFoundError('No customer is associated with this API key.', {
        code: 'customer_not_found',
      });
    const views: ApiKeyView[] = [];
    if (customer.keyHash) {
      const primary = await this.repository.getKey(customer.keyHash);
      views.push({
        object: 'api_key',
        id: PRIMARY_KEY_ID,
        name: 'Primary key',
        hint: customer.keyHint ?? '',
        status: primary?.status ?? 'revoked',
        primary: true,
        created_at: seconds(primary?.createdAt ?? customer.createdAt),
        revoked_at: null,
        last_used_at: primary?.lastUsedAt ? seconds(primary.lastUsedAt) : null,
        ...keyScope({ customerId: customer.customerId }),
      });
    }
    // Admin keys are listed by the administration API (`/v1/organization/admin_api_keys`).
    for (const key of await this.repository.listNamedKeys(principal.customerId))
      if (!isAdminKey(key)) views.push(namedView(key));
    return views;
  }

  /**
   * Issues a named key; the secret is in the answer only. Without a grant, a project key of the
   * caller's project with every permission, as `/v1/keys` made before permissions existed.
   */
  async create(
    principal: Principal,
    name: string,
    grant: KeyGrant = { kind: 'project_key', projectId: principal.projectId, permissions: 'all' },
  ): Promise<CreatedApiKey> {
    const { record, key } = await this.issue(principal, name, grant);
    return { ...namedView(record), key };
  }

  /** Issues a key and answers its stored record and its secret. */
  async issue(
    principal: Pick<Principal, 'customerId' | 'kind' | 'userId' | 'keyId'>,
    name: string,
    grant: KeyGrant,
    createdBy = actorOf(principal),
  ): Promise<{ record: NamedKeyRecord; key: string }> {
    const customer = await this.repository.getCustomer(principal.customerId);
    const primary = customer?.keyHash ? await this.repository.getKey(customer.keyHash) : undefined;
    if (customer?.status !== 'active' || primary?.status !== 'active') {
      throw new NotFoundError('No active customer is associated with this API key.', {
        code: 'customer_not_found',
      });
    }
    const issued = issueApiKey(
      undefined,
      grant.kind === 'admin_key' ? ADMIN_API_KEY_PREFIX : API_KEY_PREFIX,
    );
    const key: NamedKeyRecord = {
      keyHash: issued.hash,
      customerId: customer.customerId,
      // What the authorizer hands on comes from the primary key, which the operator keeps up to
      // date.
      tier: primary.tier,
      usageIdentifierKey: primary.usageIdentifierKey,
      ...(primary.customModelLimits ? { customModelLimits: primary.customModelLimits } : {}),
      ...(primary.customPlanLimits ? { customPlanLimits: true as const } : {}),
      ...(primary.spendLimitMicroUsd !== undefined
        ? { spendLimitMicroUsd: primary.spendLimitMicroUsd }
        : {}),
      status: 'active' as const,
      createdAt: this.now().toISOString(),
      keyId: `key_${randomBase62(20)}`,
      name,
      keyHint: issued.hint,
      ...grant,
      createdBy,
    };
    await this.takeSlot(
      customer.customerId,
      customer.namedKeySlotsSince === undefined,
      slotOf(key),
    );
    try {
      await this.writeKey(key, grant);
    } catch (error) {
      await this.repository
        .releaseNamedKeySlots(customer.customerId, [slotOf(key)])
        .catch(() => undefined);
      throw error;
    }
    await this.catchUpWithPrimary(key);
    return { record: key, key: issued.key };
  }

  /**
   * Writes the key. A key of a project other than the default (which cannot be archived) first
   * notes its hash on the project's item while the project is active, so an archive, which writes
   * that item, either comes first and refuses this key, or comes after and finds its hash (and
   * revokes the key, or bars the hash so this write is refused).
   */
  private async writeKey(key: NamedKeyRecord, grant: KeyGrant): Promise<void> {
    const archivable =
      grant.kind === 'project_key' && grant.projectId !== defaultProjectId(key.customerId);
    if (
      archivable &&
      !(await this.repository.registerProjectKey(key.customerId, grant.projectId, key.keyHash))
    ) {
      throw projectArchived(grant.projectId);
    }
    try {
      await this.repository.putNamedKey(key);
    } catch (error) {
      if (archivable && isConditionFailure(error)) throw projectArchived(grant.projectId);
      throw error;
    }
  }

  /**
   * Revokes the keys whose hashes an archive read on its project's item, and bars those of keys
   * not written yet (their creates are then refused). Their slots are given back.
   */
  async revokeProjectKeys(customerId: string, keyHashes: readonly string[]): Promise<void> {
    const revokedAt = this.now().toISOString();
    for (const keyHash of keyHashes) {
      const was = await this.repository.revokeOrBar(keyHash, revokedAt);
      if (was?.status === 'active' && was.keyId && was.customerId === customerId) {
        await this.repository.releaseNamedKeySlots(customerId, [slotOf(was as NamedKeyRecord)]);
      }
    }
  }

  /** Takes a slot under the cap, freeing orphaned slots once if the cap is reached; refuses past it. */
  private async takeSlot(customerId: string, uninitialized: boolean, slot: string): Promise<void> {
    if (uninitialized) {
      // Keys created before slots existed take theirs first, or the cap would count from zero.
      const active = (await this.repository.listNamedKeys(customerId)).filter(
        (k) => k.status === 'active',
      );
      await this.repository.initNamedKeySlots(customerId, active.map(slotOf), this.now());
    }
    if (await this.repository.reserveNamedKeySlot(customerId, slot, MAX_ACTIVE_NAMED_KEYS)) return;
    if ((await this.freeOrphanSlots(customerId)) > 0) {
      if (await this.repository.reserveNamedKeySlot(customerId, slot, MAX_ACTIVE_NAMED_KEYS))
        return;
    }
    throw new BadRequestError(
      `You have ${MAX_ACTIVE_NAMED_KEYS} active keys, the most allowed: revoke one you no longer use, then try again.`,
      { code: 'too_many_keys' },
    );
  }

  /** Gives back slots held by no active key and older than the grace period; returns how many. */
  private async freeOrphanSlots(customerId: string): Promise<number> {
    const slots = [...((await this.repository.getCustomer(customerId))?.namedKeySlots ?? [])];
    const active = new Set(
      (await this.repository.listNamedKeys(customerId))
        .filter((k) => k.status === 'active')
        .map(slotOf),
    );
    const cutoff = this.now().getTime() - ORPHAN_SLOT_GRACE_MS;
    const orphans = slots.filter((slot) => {
      if (active.has(slot)) return false;
      const created = Date.parse(slot.slice(slot.indexOf('@') + 1));
      // A slot younger than the grace period may belong to a create still writing its key.
      return !Number.isFinite(created) || created < cutoff;
    });
    await this.repository.releaseNamedKeySlots(customerId, orphans);
    return orphans.length;
  }

  /**
   * An operator change (tier, limits, spend limit, revocation) that ran while this key was being
   * written may have updated the primary key and listed the named keys before this one was there:
   * read the primary again and copy what changed.
   */
  private async catchUpWithPrimary(key: KeyRecord): Promise<void> {
    const customer = await this.repository.getCustomer(key.customerId);
    const primary = customer?.keyHash ? await this.repository.getKey(customer.keyHash) : undefined;
    if (!primary || customer?.status !== 'active') {
      await this.repository.updateKey(key.keyHash, {
        status: 'revoked',
        revokedAt: this.now().toISOString(),
      });
      await this.repository.releaseNamedKeySlots(key.customerId, [
        slotOf(key as KeyRecord & { keyId: string }),
      ]);
      return;
    }
    const remove = (['customModelLimits', 'spendLimitMicroUsd'] as const).filter(
      (field) => primary[field] === undefined && key[field] !== undefined,
    );
    const same =
      primary.tier === key.tier &&
      primary.status === key.status &&
      primary.spendLimitMicroUsd === key.spendLimitMicroUsd &&
      JSON.stringify(primary.customModelLimits) === JSON.stringify(key.customModelLimits);
    if (same) return;
    await this.repository.updateKey(
      key.keyHash,
      {
        tier: primary.tier,
        status: primary.status,
        ...(primary.customModelLimits ? { customModelLimits: primary.customModelLimits } : {}),
        ...(primary.spendLimitMicroUsd !== undefined
          ? { spendLimitMicroUsd: primary.spendLimitMicroUsd }
          : {}),
      },
      [...remove],
    );
  }

  /**
   * Revokes a named key of the caller; another customer's key id answers 404, and so does a key of
   * the other kind (`kind`: admin keys are revoked through the administration API). Revoking twice
   * is a no-op.
   */
  async revoke(
    principal: Principal,
    keyId: string,
    kind: 'project_key' | 'admin_key' = 'project_key',
  ): Promise<ApiKeyView> {
    const key = await this.revokeRecord(principal, keyId, kind);
    return namedView(key);
  }

  /** Revokes and answers the key's record as it now is. */
  async revokeRecord(
    principal: Principal,
    keyId: string,
    kind: 'project_key' | 'admin_key',
  ): Promise<NamedKeyRecord> {
    if (keyId === PRIMARY_KEY_ID) {
      throw new BadRequestError(
        'The primary key is managed by your operator: create a named key, switch your applications to it, and ' +
          'ask your operator to rotate the primary key (`tierline customers rotate-key`).',
        { param: 'key_id', code: 'primary_key_not_revocable' },
      );
    }
    // Only the caller's own index partition is searched: another customer's key is never found.
    const key = (await this.repository.listNamedKeys(principal.customerId)).find(
      (k) => k.keyId === keyId && isAdminKey(k) === (kind === 'admin_key'),
    );
    if (!key) throw new NotFoundError(`No API key with id '${keyId}'.`, { code: 'key_not_found' });
    if (key.status === 'revoked') return key;
    const revokedAt = this.now().toISOString();
    await this.repository.updateKey(key.keyHash, { status: 'revoked', revokedAt });
    // Revoked first, slot given back after: a crash between leaves an orphaned slot (freed later),
    // never an active key without one.
    await this.repository.releaseNamedKeySlots(principal.customerId, [slotOf(key)]);
    const { projectId } = keyGrants(key);
    if (!isAdminKey(key) && projectId !== defaultProjectId(key.customerId)) {
      await this.repository.forgetProjectKey(key.customerId, projectId, key.keyHash);
    }
    return { ...key, status: 'revoked', revokedAt };
  }
}
