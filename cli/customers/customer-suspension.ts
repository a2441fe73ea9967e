import type { CustomerRecord } from '../../lambda/customers/customers-repository';
import type { OperatorContext } from '../operator-context';
import { OperatorError } from '../operator-errors';

export interface SuspensionResult {
  /** False when the customer was already in the state asked for (a re-run finished the keys). */
  changed: boolean;
  customer: CustomerRecord;
  /** Keys moved by this run (primary and named). */
  keys: number;
  /** How long keys and sessions may still work (or still be refused) after this: the authorizer cache's TTL. */
  takesEffectWithinSeconds: number;
}

/**
 * `customers suspend` and `customers restore`: an organization stopped and started again with
 * everything kept (keys, members, files, usage), unlike `revoke` (keys gone, a new one on
 * `reactivate`). Suspending marks the customer first (console sessions and creating routes check
 * it) and then its keys (the authorizer checks each key's item); restoring does the reverse. Each
 * key moves in one conditional write, so a key revoked meanwhile stays revoked, and a re-run
 * finishes an interrupted one. Both stop or start within the authorizer cache's TTL
 * (`authorizerCacheTtlSeconds`): API Gateway keeps a key's allow that long, and the API functions
 * keep a session's organization that long (lambda/accounts/session-principal.ts).
 */
export class CustomerSuspension {
  constructor(private readonly ctx: OperatorContext) {}

  private get ttlSeconds(): number {
    return this.ctx.deps.config.environment.authorizerCacheTtlSeconds;
  }

  async suspend(customerId: string): Promise<SuspensionResult> {
    const { customers } = this.ctx.deps;
    const customer = await this.ctx.getCustomer(customerId);
    if (customer.status !== 'active' && customer.status !== 'suspended') {
      throw new OperatorError(
        `Customer ${customerId} is ${customer.status}: only an active customer can be suspended.`,
        'wrong_state',
      );
    }
    const changed = customer.status === 'active';
    if (changed) await customers.updateCustomer(customerId, { status: 'suspended' });
    const keys = await customers.switchKeysStatus(
      customerId,
      customer.keyHash,
      'active',
      'suspended',
    );
    return {
      changed,
      customer: await this.ctx.getCustomer(customerId),
      keys,
      takesEffectWithinSeconds: this.ttlSeconds,
    };
  }

  async restore(customerId: string): Promise<SuspensionResult> {
    const { customers } = this.ctx.deps;
    const customer = await this.ctx.getCustomer(customerId);
    if (customer.status !== 'suspended' && customer.status !== 'active') {
      throw new OperatorError(
        `Customer ${customerId} is ${customer.status}: only a suspended customer can be restored` +
          (customer.status === 'revoked' ? ' (a revoked one is reactivated).' : '.'),
        'wrong_state',
      );
    }
    // Keys first, the customer last: until the end a re-run still sees `suspended`.
    const keys = await customers.switchKeysStatus(
      customerId,
      customer.keyHash,
      'suspended',
      'active',
    );
    const changed = customer.status === 'suspended';
    if (changed) await customers.updateCustomer(customerId, { status: 'active' });
    return {
      changed,
      customer: await this.ctx.getCustomer(customerId),
      keys,
      takesEffectWithinSeconds: this.ttlSeconds,
    };
  }
}
