import { AuthenticationError } from '../openai/errors';
import type { CustomersRepository } from './customers-repository';

/** Customers whose "active" answer one process keeps at most (then it starts over). */
const MAX_CACHED = 10_000;

export interface ActiveCustomersOptions {
  customers: Pick<CustomersRepository, 'getCustomer'>;
  /**
   * How long one process trusts an "active" read: half the authorizer cache's TTL
   * ({@link activeCustomerCacheMs}). 0 reads on every request.
   */
  cacheMs: number;
  now?: () => number;
}

/**
 * How long an "active" answer is kept: half of `authorizerCacheTtlSeconds`.
 *
 * Why it may be kept at all: API Gateway already lets a revoked or deleted customer's key through
 * for the authorizer cache's TTL, and `customers delete` sweeps a second time once that TTL has
 * passed (cli/customers/customer-lifecycle.ts). An answer kept for less than the TTL lets nothing
 * be created later than the authorizer already does, and the other half of the TTL is the margin
 * in which a create that passed the check still writes before that second sweep.
 * Why it is worth keeping: on `POST /responses`, a route as hot as chat, the read was a DynamoDB
 * round trip per request that chat completions do not make, and most of the gateway CPU Responses
 * spent above chat's (docs/benchmarks.md, bench:gateway). Only that route takes a kept answer
 * (lambda/http/app.ts): files, uploads, batches, fine-tuning jobs and keys are rare next to
 * inference, and a job or a key made late would outlast what the second sweep removes.
 */
export function activeCustomerCacheMs(authorizerCacheTtlSeconds: number): number {
  return Math.floor((authorizerCacheTtlSeconds * 1000) / 2);
}

/**
 * Objects are created only by an active customer (issue 20 row 1: without the check, a deleted
 * customer's key, still let through by the authorizer's cache, made files and batches after
 * `customers delete` had swept). Only "active" is kept; any other status, or a failed read, is
 * read again on the next request, so a customer once refused stays refused.
 */
export class ActiveCustomers {
  private readonly cache = new Map<string, { active: Promise<void>; expires: number }>();
  private readonly now: () => number;

  constructor(private readonly options: ActiveCustomersOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Resolves when the customer is active; rejects with the 401 of an invalid key otherwise. */
  require(customerId: string): Promise<void> {
    const cached = this.cache.get(customerId);
    if (cached && cached.expires > this.now()) return cached.active;
    const active = this.read(customerId);
    if (this.options.cacheMs > 0) {
      if (this.cache.size >= MAX_CACHED) this.cache.clear();
      // Concurrent requests of one customer share the read in flight.
      this.cache.set(customerId, { active, expires: this.now() + this.options.cacheMs });
      active.catch(() => {
        if (this.cache.get(customerId)?.active === active) this.cache.delete(customerId);
      });
    }
    return active;
  }

  private async read(customerId: string): Promise<void> {
    const customer = await this.options.customers.getCustomer(customerId);
    // A principal with no customer item is a key the operator made outside the CLI (tests, the
    // demo seed).
    if (customer && customer.status !== 'active') throw new AuthenticationError();
  }
}
