import { randomUUID } from 'node:crypto';
import type { Context } from 'hono';
import { Hono } from 'hono';
import type { TierlineConfig } from '../../lib/config/schema';
import type { CustomersRepository } from '../adapters/customers-repository';
import type { Principal } from '../domain/authenticate';
import { HttpError, InternalServerError, NotFoundError } from '../domain/errors';
import { planView, publicPlans } from '../domain/plans';

/** What the app needs from the outside world; Lambda and local mode pass their own. */
export interface ApiDependencies {
  config: TierlineConfig;
  /** Reads the caller's principal: from the authorizer's context in Lambda, by running the authorizer locally. */
  principalOf: (c: Context) => Promise<Principal>;
  customers: Pick<CustomersRepository, 'getCustomer'>;
  /** The request id clients see in `x-request-id`; defaults to a random UUID. */
  requestIdOf?: (c: Context) => string | undefined;
  logError?: (message: string, details: Record<string, unknown>) => void;
}

type Env = { Variables: { requestId: string; principal: Principal } };

function versionOneRoutes(deps: ApiDependencies): Hono<Env> {
  const v1 = new Hono<Env>();

  // Public: every limit is visible before anyone signs up.
  v1.get('/plans', (c) => c.json(publicPlans(deps.config)));

  v1.use('*', async (c, next) => {
    c.set('principal', await deps.principalOf(c));
    await next();
  });

  v1.get('/me', async (c) => {
    const principal = c.get('principal');
    const customer = await deps.customers.getCustomer(principal.customerId);
    // The authorizer found an active key, so the customer exists; a missing item means it was removed since.
    if (!customer) throw new NotFoundError('No customer is associated with this API key.', 'customer_not_found');
    return c.json({
      object: 'customer',
      id: customer.customerId,
      name: customer.name,
      email: customer.email,
      tier: principal.tier,
      created_at: Math.floor(Date.parse(customer.createdAt) / 1000),
      custom_plan: customer.customPlan !== undefined,
      plan: planView(deps.config, principal.tier, customer.customPlan),
    });
  });

  return v1;
}

/** The whole HTTP API: the same app runs in Lambda and in local mode. */
export function createApiApp(deps: ApiDependencies): Hono<Env> {
  const app = new Hono<Env>();

  app.use('*', async (c, next) => {
    const requestId = deps.requestIdOf?.(c) ?? randomUUID();
    c.set('requestId', requestId);
    c.header('x-request-id', requestId);
    await next();
  });

  const v1 = versionOneRoutes(deps);
  // openai's client uses `https://HOST/v1`; groq-sdk appends `/openai/v1` to its base URL.
  app.route('/v1', v1);
  app.route('/openai/v1', v1);

  app.notFound((c) => {
    const error = new NotFoundError(`Invalid URL (${c.req.method} ${c.req.path})`, 'unknown_url');
    return c.json(error.toBody(), 404);
  });

  app.onError((err, c) => {
    const requestId = c.get('requestId') ?? 'unknown';
    const error = err instanceof HttpError ? err : new InternalServerError(requestId);
    if (!(err instanceof HttpError)) deps.logError?.('unhandled error', { requestId, error: err });
    for (const [name, value] of Object.entries(error.headers)) c.header(name, value);
    c.header('x-request-id', requestId);
    return c.json(error.toBody(), error.status as 400);
  });

  return app;
}
