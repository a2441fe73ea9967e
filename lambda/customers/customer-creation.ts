import {
  type APIGatewayClient,
  CreateApiKeyCommand,
  CreateUsagePlanKeyCommand,
  DeleteApiKeyCommand,
  GetApiKeysCommand,
} from '@aws-sdk/client-api-gateway';
import type { TierName } from '../../lib/config/schema';
import { issueApiKey, randomBase62 } from './api-keys';
import type { CustomerRecord, CustomersRepository } from './customers-repository';

export const newCustomerId = () => `cus_${randomBase62(20)}`;

export interface CreatedCustomer {
  /** False when a customer with this e-mail already existed: nothing was changed and no key is shown. */
  created: boolean;
  customer: CustomerRecord;
  /** The new key, present only when `created`: shown once, never stored. */
  apiKey?: string;
}

/** Why a create stopped; the operator CLI turns it into its exit code, the API into a 4xx or 5xx. */
export class CustomerCreationError extends Error {
  constructor(
    message: string,
    readonly kind: 'wrong_state' | 'failed',
  ) {
    super(message);
    this.name = 'CustomerCreationError';
  }
}

export interface CustomerCreationDeps {
  customers: Pick<
    CustomersRepository,
    | 'claimEmail'
    | 'releaseEmail'
    | 'getCustomer'
    | 'putCustomer'
    | 'updateCustomer'
    | 'putKey'
    | 'deleteKey'
    | 'deleteCustomer'
  >;
  apiGateway: Pick<APIGatewayClient, 'send'>;
  /** The environment's name, in the API Gateway key's name and tags. */
  environmentName: string;
  /** The usage plan of a tier (by id in the CLI's settings, by name in a function). */
  tierPlanId: (tier: TierName) => Promise<string>;
  /**
   * The shared pool key of a customer where its tier pools keys (lambda/customers/edge-key-pool.ts:
   * `pooledUsageIdentifier` on the config); undefined: the customer gets a key of its own.
   */
  pooledUsageIdentifier: (tier: TierName, customerId: string) => string | undefined;
}

/** API Gateway key name of a customer: unique, so a retry finds what an interrupted run created. */
export const apiGatewayKeyName = (env: string, customerId: string) =>
  `tierline-${env}-${customerId}`;

/**
 * Creates the customer's API Gateway key (its usage identifier, never its secret) and answers its
 * id; by `create` and `reactivate` alike.
 */
export async function createGatewayKey(
  apiGateway: Pick<APIGatewayClient, 'send'>,
  env: string,
  customerId: string,
  usageIdentifierKey: string,
): Promise<string> {
  const apiKey = await apiGateway.send(
    new CreateApiKeyCommand({
      name: apiGatewayKeyName(env, customerId),
      description: `Tierline usage identifier of ${customerId} (not the customer's secret)`,
      value: usageIdentifierKey,
      enabled: true,
      tags: { project: 'tierline', environment: env, customerId },
    }),
  );
  if (!apiKey.id) throw new Error('API Gateway returned no id for the new API key');
  return apiKey.id;
}

/**
 * A customer's own API Gateway key on a usage plan, by `create` and the CLI's `reactivate` alike.
 * `made` learns the key's id as soon as it exists, so a caller whose later step fails (this one's
 * attach included) deletes it: the key is new, so no plan holds it yet and the attach cannot meet
 * the conflict `UsagePlanKeys.attachKey` repairs.
 */
export async function createDedicatedKey(
  apiGateway: Pick<APIGatewayClient, 'send'>,
  environmentName: string,
  key: { customerId: string; usagePlanId: string; usageIdentifierKey: string },
  made: { apiGatewayKeyId?: string },
): Promise<{ apiGatewayKeyId: string; usagePlanId: string }> {
  const { customerId, usagePlanId, usageIdentifierKey } = key;
  const apiGatewayKeyId = await createGatewayKey(
    apiGateway,
    environmentName,
    customerId,
    usageIdentifierKey,
  );
  made.apiGatewayKeyId = apiGatewayKeyId;
  await apiGateway.send(
    new CreateUsagePlanKeyCommand({ usagePlanId, keyId: apiGatewayKeyId, keyType: 'API_KEY' }),
  );
  return { apiGatewayKeyId, usagePlanId };
}

const tolerateNotFound = async (action: () => Promise<unknown>) => {
  try {
    await action();
  } catch (error) {
    if (!(error instanceof Error && error.name === 'NotFoundException')) throw error;
  }
};

/**
 * Creating a customer: the e-mail claimed (one customer per address, a conditional write), the
 * customer item, its API Gateway key on the tier's usage plan (none on a pooled tier: the customer
 * shares the pool key its id hashes to, so sign-ups pass API Gateway's 10,000 keys and 5
 * `CreateApiKey` per second), its primary key. The same code for
 * the operator CLI's `customers create` and self-service sign-up (lambda/accounts/sign-up.ts).
 * Running it again after a crash finishes under the same customer id and cleans what the crash
 * left; a second run of a finished create changes nothing (`created: false`).
 */
export class CustomerCreation {
  constructor(private readonly deps: CustomerCreationDeps) {}

  /**
   * `input` is already validated (trimmed, the e-mail lower-cased). `candidateId` is the id a new
   * customer gets: sign-up passes the one its claim holds, so a retry resumes the same customer.
   */
  async create(
    input: { name: string; email: string; tier: TierName },
    candidateId: string = newCustomerId(),
  ): Promise<CreatedCustomer> {
    const { customers } = this.deps;
    const customerId = await customers.claimEmail(input.email, candidateId);
    const existing = await customers.getCustomer(customerId);
    let createdAt = new Date().toISOString();
    if (existing) {
      if (existing.status === 'active') return { created: false, customer: existing };
      if (existing.status === 'deleted') {
        // A delete that stopped before it freed the e-mail: the address is free, claim it for a
        // new customer.
        await customers.releaseEmail(input.email, customerId);
        return this.create(input, candidateId === customerId ? newCustomerId() : candidateId);
      }
      if (existing.status !== 'creating') {
        throw new CustomerCreationError(
          `${input.email} belongs to ${existing.status} customer ${customerId}: "customers reactivate ${customerId}" ` +
            `gives it a key again, "customers delete ${customerId} --yes" frees the e-mail.`,
          'wrong_state',
        );
      }
      createdAt = existing.createdAt;
    }
    // An earlier run stopped half way (or the e-mail was claimed and no item written): clean up what
    // it left and finish under the same id.
    if (existing || customerId !== candidateId)
      await this.cleanUpInterruptedCreate(customerId, existing);
    return this.createUnder(customerId, input, createdAt);
  }

  private async createUnder(
    customerId: string,
    input: { name: string; email: string; tier: TierName },
    createdAt: string,
  ): Promise<CreatedCustomer> {
    const { customers } = this.deps;
    const issued = issueApiKey();
    const pooled = this.deps.pooledUsageIdentifier(input.tier, customerId);
    const usageIdentifierKey = pooled ?? randomBase62(40);
    let gatewayKey: { apiGatewayKeyId: string; usagePlanId: string } | undefined;
    // The key this run made, undone if a later step fails (never a pool key: it is not ours).
    const made: { apiGatewayKeyId?: string } = {};
    let keyWritten = false;
    try {
      await customers.putCustomer({
        customerId,
        ...input,
        status: 'creating',
        pendingKeyHash: issued.hash,
        createdAt,
        updatedAt: new Date().toISOString(),
      });
      if (!pooled) {
        const usagePlanId = await this.deps.tierPlanId(input.tier);
        const { apiGateway, environmentName } = this.deps;
        const key = { customerId, usagePlanId, usageIdentifierKey };
        gatewayKey = await createDedicatedKey(apiGateway, environmentName, key, made);
      }
      await customers.putKey({
        keyHash: issued.hash,
        customerId,
        tier: input.tier,
        usageIdentifierKey,
        status: 'active',
        createdAt: new Date().toISOString(),
      });
      keyWritten = true;
      await customers.updateCustomer(
        customerId,
        {
          status: 'active',
          keyHash: issued.hash,
          keyHint: issued.hint,
          ...(gatewayKey ?? { sharedUsageKey: pooled }),
        },
        { remove: ['pendingKeyHash'] },
      );
    } catch (error) {
      await this.undoCreate({
        customerId,
        email: input.email,
        apiGatewayKeyId: made.apiGatewayKeyId,
        keyHash: keyWritten ? issued.hash : undefined,
      });
      throw error;
    }
    const customer = await customers.getCustomer(customerId);
    if (!customer) throw new Error(`customer ${customerId} vanished right after its creation`);
    return { created: true, customer, apiKey: issued.key };
  }

  /** Removes what an interrupted `create` left: its pending key item and its API Gateway key(s). */
  async cleanUpInterruptedCreate(
    customerId: string,
    existing: CustomerRecord | undefined,
  ): Promise<void> {
    const { customers, apiGateway, environmentName } = this.deps;
    if (existing?.pendingKeyHash) await customers.deleteKey(existing.pendingKeyHash);
    const name = apiGatewayKeyName(environmentName, customerId);
    const { items = [] } = await apiGateway.send(
      new GetApiKeysCommand({ nameQuery: name, limit: 500 }),
    );
    for (const key of items.filter((k) => k.name === name && k.id)) {
      await tolerateNotFound(() => apiGateway.send(new DeleteApiKeyCommand({ apiKey: key.id })));
    }
  }

  /** Best-effort undo of a failed `create`; says what it could not undo, so nothing is silently left. */
  private async undoCreate(created: {
    customerId: string;
    email: string;
    apiGatewayKeyId?: string;
    keyHash?: string;
  }): Promise<void> {
    const { customers, apiGateway } = this.deps;
    const steps: [string, () => Promise<unknown>][] = [];
    if (created.keyHash) {
      const keyHash = created.keyHash;
      steps.push(['key item', () => customers.deleteKey(keyHash)]);
    }
    if (created.apiGatewayKeyId) {
      const apiKey = created.apiGatewayKeyId;
      steps.push([
        `API Gateway key ${apiKey}`,
        () => tolerateNotFound(() => apiGateway.send(new DeleteApiKeyCommand({ apiKey }))),
      ]);
    }
    steps.push(['customer item', () => customers.deleteCustomer(created.customerId)]);
    steps.push(['e-mail claim', () => customers.releaseEmail(created.email, created.customerId)]);
    const failed: string[] = [];
    for (const [what, step] of steps) {
      try {
        await step();
      } catch {
        failed.push(what);
      }
    }
    if (failed.length > 0) {
      throw new CustomerCreationError(
        `Creating ${created.customerId} failed and could not undo: ${failed.join(', ')}. ` +
          `Run the same "customers create" again: it finds ${created.customerId} and cleans it up.`,
        'failed',
      );
    }
  }
}
