import { Hono } from 'hono';
import { planView, publicPlans } from '../../customers/plans';
import { NotFoundError } from '../../openai/errors';
import type { Customer } from '../../openai/shapes/plans';
import type { ApiDependencies, AppEnv } from '../types';

/** `GET /plans` (public) and `GET /me`. */
export function publicPlanRoutes(deps: ApiDependencies): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  // Public: every limit is visible before anyone signs up.
  routes.get('/plans', (c) => c.json(publicPlans(deps.config)));
  return routes;
}

export function accountRoutes(deps: ApiDependencies): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.get('/me', async (c) => {
    const principal = c.get('principal');
    const customer = await deps.customers.getCustomer(principal.customerId);
    // The authorizer found an active key, so the customer exists; a missing item means it was
    // removed since.
    if (!customer)
      throw new NotFoundError('No customer is associated with this API key.', {
        code: 'customer_not_found',
      });
    return c.json<Customer>({
      object: 'customer',
      id: customer.customerId,
      name: customer.name,
      email: customer.email,
      tier: principal.tier,
      created_at: Math.floor(Date.parse(customer.createdAt) / 1000),
      custom_plan: customer.customPlan !== undefined,
      plan: planView(
        deps.config,
        principal.tier,
        customer.customPlan,
        customer.sharedUsageKey !== undefined,
      ),
    });
  });
  return routes;
}
