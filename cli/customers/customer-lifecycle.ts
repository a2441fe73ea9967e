import { DeleteApiKeyCommand } from '@aws-sdk/client-api-gateway';
import type { ErasedData } from '../../lambda/batches/customer-data';
import { issueApiKey, randomBase62 } from '../../lambda/customers/api-keys';
import { createDedicatedKey } from '../../lambda/customers/customer-creation';
import type { CustomerRecord } from '../../lambda/customers/customers-repository';
import { pooledUsageIdentifier } from '../../lambda/customers/edge-key-pool';
import type { OperatorContext } from '../operator-context';
import { OperatorError, tolerate } from '../operator-errors';
import type { CustomerOperations } from './customer-operations';

export interface DeletedCustomer {
  /** False when an earlier run had already finished: this run only swept up what was left. */
  deleted: boolean;
  customer: CustomerRecord;
  erased: ErasedData | null;
  /** Memberships and invites removed (absent where the deployment gave no way to). */
  people?: { members: number; invites: number };
}

/**
 * `customers reactivate` and `customers delete`: the ways out of `revoked` (a new key on the tier's
 * plan, or the end of the customer with its billing records kept). Both are safe to re-run.
 */
export class CustomerLifecycle {
  constructor(
    private readonly ctx: OperatorContext,
    private readonly operations: CustomerOperations,
  ) {}

  /**
   * Gives a revoked customer a new key (shown once), a new API Gateway key and its tier's usage
   * plan. Named keys stay revoked, and an Enterprise custom plan (deleted by `revoke`) must be
   * created again. Runs as a create does: status `creating` first, so an interrupted run is
   * finished by the next `reactivate` (or `revoke`).
   */
  async reactivate(customerId: string): Promise<{ customer: CustomerRecord; apiKey: string }> {
    const { customers, apiGateway } = this.ctx.deps;
    const customer = await this.ctx.getCustomer(customerId);
    if (customer.status === 'active') {
      throw new OperatorError(`Customer ${customerId} is already active.`, 'wrong_state');
    }
    if (customer.status === 'revoking') {
      throw new OperatorError(
        `The revocation of ${customerId} did not finish: run "customers revoke ${customerId}" first.`,
        'wrong_state',
      );
    }
    if (customer.status === 'suspended') {
      throw new OperatorError(
        `Customer ${customerId} is suspended, its keys kept: run "customers restore ${customerId}".`,
        'wrong_state',
      );
    }
    if (customer.status === 'deleting' || customer.status === 'deleted') {
      throw new OperatorError(
        `Customer ${customerId} is ${customer.status}: it cannot come back.`,
        'wrong_state',
      );
    }
    // `creating` here is an interrupted reactivation (or create): clean up what it left, then start
    // again.
    if (customer.status === 'creating') await this.operations.removeAccess(customer);
    const previous = customer.keyHash ? await customers.getKey(customer.keyHash) : undefined;

    const issued = issueApiKey();
    // A pooled tier's customer comes back on its pool key: no API Gateway key is made.
    const pooled = pooledUsageIdentifier(this.ctx.deps.config, customer.tier, customerId);
    const usageIdentifierKey = pooled ?? randomBase62(40);
    const usagePlanId = pooled ? undefined : this.ctx.tierPlanId(customer.tier);
    await customers.updateCustomer(customerId, { status: 'creating', pendingKeyHash: issued.hash });
    // The key this run made, undone if a later step fails.
    const made: { apiGatewayKeyId?: string } = {};
    try {
      const gatewayKey =
        usagePlanId &&
        (await createDedicatedKey(
          apiGateway,
          this.ctx.env,
          { customerId, usagePlanId, usageIdentifierKey },
          made,
        ));
      await customers.putKey({
        keyHash: issued.hash,
        customerId,
        tier: customer.tier,
        usageIdentifierKey,
        status: 'active',
        createdAt: new Date().toISOString(),
        // The spend limit the customer had still binds; a custom plan's limits went with the plan.
        ...(previous?.spendLimitMicroUsd !== undefined
          ? { spendLimitMicroUsd: previous.spendLimitMicroUsd }
          : {}),
      });
      await customers.updateCustomer(
        customerId,
        {
          status: 'active',
          keyHash: issued.hash,
          keyHint: issued.hint,
          ...(gatewayKey || { sharedUsageKey: pooled }),
        },
        { remove: ['pendingKeyHash'] },
      );
    } catch (error) {
      // Back to revoked, with nothing of this run left working; what cannot be undone the next run
      // cleans up.
      await customers.deleteKey(issued.hash).catch(() => undefined);
      if (made.apiGatewayKeyId) {
        const apiKey = made.apiGatewayKeyId;
        await tolerate(
          () => apiGateway.send(new DeleteApiKeyCommand({ apiKey })),
          'NotFoundException',
        ).catch(() => undefined);
      }
      await customers
        .updateCustomer(customerId, { status: 'revoked' }, { remove: ['pendingKeyHash'] })
        .catch(() => undefined);
      throw error;
    }
    return { customer: await this.ctx.getCustomer(customerId), apiKey: issued.key };
  }

  /**
   * Ends a customer: every key revoked, its API Gateway key taken off its usage plan and deleted, a
   * custom plan deleted, its files, uploads and batches deleted (metadata and content), and its
   * e-mail freed for a new customer. Kept (docs/operating.md, "Deleting a customer"): the profile,
   * as status `deleted`, and every ledger record, usage aggregate and spend item, which billing
   * needs. Re-running sweeps up again and changes nothing else.
   */
  async delete(customerId: string, options: { confirmed: boolean }): Promise<DeletedCustomer> {
    const { customers } = this.ctx.deps;
    const customer = await this.ctx.getCustomer(customerId);
    if (!options.confirmed) {
      throw new OperatorError(
        `This deletes ${customerId} (${customer.email}): its keys, files and batches. Add --yes to confirm.`,
        'invalid_input',
      );
    }
    const eraser = this.ctx.deps.customerData;
    if (!eraser) {
      throw new OperatorError(
        'This deployment publishes no files table and bucket to the CLI: redeploy the API stack.',
        'no_deployment',
      );
    }
    const alreadyDeleted = customer.status === 'deleted';
    // First, so no other command (set-tier, rotate-key, reactivate) works on a customer being
    // deleted.
    if (!alreadyDeleted) await customers.updateCustomer(customerId, { status: 'deleting' });
    await this.operations.removeAccess(customer, { unlinkPlans: true });
    const erased = await eraser.erase(customerId);
    // Its members lose it at once (their sessions find no membership); its invite links stop.
    const people = await this.ctx.deps.organizationPeople?.erase(customerId);
    // Only this customer's claim is removed: a new customer who took the address since keeps it.
    await customers.releaseEmail(customer.email, customerId);
    if (!alreadyDeleted) {
      await customers.updateCustomer(customerId, {
        status: 'deleted',
        deletedAt: new Date().toISOString(),
      });
    }
    // API Gateway keeps the authorizer's answer for authorizerCacheTtlSeconds, so the old key still
    // reaches the API that long, and a create that read the customer as active just before
    // `deleting` may write after the sweep above (issue 20 row 1: a file and a batch made after
    // delete returned). Creating routes refuse a customer that is not active (lambda/http/app.ts;
    // a process keeps an "active" answer for half the TTL, lambda/customers/active-customers.ts);
    // once the cache has expired nothing new can land, and a second sweep removes what did. The
    // cache's TTL (CloudFormation AWS::ApiGateway::Authorizer, AuthorizerResultTtlInSeconds: "If it
    // is greater than 0, API Gateway will cache authorizer responses ... The maximum value is
    // 3600") is the config's authorizerCacheTtlSeconds, as local mode's emulation keeps it.
    const waitMs = this.ctx.deps.config.environment.authorizerCacheTtlSeconds * 1000;
    const sleep =
      this.ctx.deps.sleep ??
      ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
    if (waitMs > 0) await sleep(waitMs);
    const late = await eraser.erase(customerId);
    for (const field of Object.keys(erased) as (keyof ErasedData)[]) erased[field] += late[field];
    // An invite accepted within the cache's TTL, or a membership the index showed late.
    const latePeople = await this.ctx.deps.organizationPeople?.erase(customerId);
    return {
      deleted: !alreadyDeleted,
      customer: await this.ctx.getCustomer(customerId),
      erased,
      ...(people && latePeople
        ? {
            people: {
              members: people.members + latePeople.members,
              invites: people.invites + latePeople.invites,
            },
          }
        : {}),
    };
  }
}
