import { Hono } from 'hono';
import * as z from 'zod/mini';
import type { BillingApi } from '../../billing/billing-summary';
import { bodySchema, field } from '../../openai/request-body';
import type { BillingCheckout } from '../../openai/shapes/billing';
import type { ApiDependencies, AppEnv } from '../types';
import { readJsonObject } from './request-bodies';

const returnUrl = (name: string) =>
  field(
    z.url({ protocol: /^https?$/ }).check(z.maxLength(2_000)),
    `'${name}' must be an http or https URL of at most 2,000 characters.`,
    'invalid_url',
  );
const checkoutBody = bodySchema({
  success_url: returnUrl('success_url'),
  cancel_url: returnUrl('cancel_url'),
});

/**
 * `GET /billing` (the Billing page), `POST /billing/checkout` (Free -> Developer: a page that saves
 * a payment method; the provider's webhook switches the tier once it is saved) and
 * `POST /billing/cancel` (Developer -> Free at the end of the period, with a final invoice). Each
 * acts on the caller's own organization only.
 */
export function billingRoutes(
  billing: BillingApi,
  deps: Pick<ApiDependencies, 'customers'>,
): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.get('/billing', async (c) =>
    c.json(await billing.summaries.summary(c.get('principal').customerId)),
  );

  routes.post('/billing/checkout', async (c) => {
    const body = checkoutBody.check(await readJsonObject(c));
    const principal = c.get('principal');
    const customer = await deps.customers.getCustomer(principal.customerId);
    const session = await billing.service.startUpgrade(
      { customerId: principal.customerId, tier: principal.tier, email: customer?.email },
      { successUrl: body.success_url, cancelUrl: body.cancel_url },
    );
    const answer: BillingCheckout = {
      object: 'billing.checkout',
      id: session.id,
      url: session.url,
    };
    return c.json(answer);
  });

  routes.post('/billing/cancel', async (c) => {
    const principal = c.get('principal');
    await billing.service.requestDowngrade(principal.customerId);
    return c.json(await billing.summaries.summary(principal.customerId));
  });
  return routes;
}
