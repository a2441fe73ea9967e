import * as z from 'zod/mini';
import type { TierlineConfig } from '../../lib/config/schema';
import type { TierName } from '../../lib/config/tier-names';
import type { CustomerRecord, CustomersRepository } from '../customers/customers-repository';
import { BadRequestError, NotFoundError, PermissionDeniedError } from '../openai/errors';
import { bodySchema, field } from '../openai/request-body';
import { MICRO_USD_PER_USD } from './pricing';
import type { SpendTracker } from './spend';

/** Highest monthly limit accepted, a guard against typos (USD). */
const MAX_MONTHLY_LIMIT_USD = 10_000_000;

/** The body of `PUT /v1/spend_limit`; a limit is rounded to the micro-USD before it is written (see below). */
export const spendLimitUpdateSchema = z.strictObject({
  monthly_limit_usd: z.nullable(z.number().check(z.minimum(0), z.maximum(MAX_MONTHLY_LIMIT_USD))),
});

/** The same ceiling in cents, for the spend-limit bodies in OpenAI's shape. */
const MAX_THRESHOLD_CENTS = MAX_MONTHLY_LIMIT_USD * 100;

/**
 * The body of `POST /organization/spend_limit` and `POST /organization/projects/{id}/spend_limit`
 * (OpenAI's shape): a whole number of cents, in USD, by the month. An unknown field is refused
 * first, its name cut to 80 characters in the message (a body may hold a 1 MB key).
 */
const thresholdBody = bodySchema(
  {
    threshold_amount: field(
      z.custom<number>(
        (cents) =>
          typeof cents === 'number' &&
          Number.isSafeInteger(cents) &&
          cents >= 1 &&
          cents <= MAX_THRESHOLD_CENTS,
      ),
      `'threshold_amount' must be a whole number of cents from 1 to ${MAX_THRESHOLD_CENTS}.`,
      'invalid_value',
    ),
    currency: field(z.literal('USD'), "'currency' must be 'USD'.", 'invalid_value'),
    interval: field(z.literal('month'), "'interval' must be 'month'.", 'invalid_value'),
  },
  {
    unknownField: {
      message: (param) => `Unknown field '${param.slice(0, 80)}'.`,
      code: 'unknown_parameter',
    },
  },
);

/** The monthly limit a spend-limit body sets, in cents; a 400 for any other body. */
export function spendThresholdCents(body: Record<string, unknown>): number {
  return thresholdBody.check(body).threshold_amount;
}

/**
 * A limit in whole micro-USD, the unit enforcement counts in. The same rounded value goes to the
 * key item (enforced, in micro-USD) and to the customer item (shown, in USD), so both always agree;
 * a value DynamoDB cannot store (5e-324 is below its smallest number, 1e-130) never reaches it.
 */
export function roundToMicroUsd(usd: number): number {
  return Math.round(usd * MICRO_USD_PER_USD) / MICRO_USD_PER_USD;
}

/** The limit that applies: the customer's own, else its tier's default; undefined when none. */
export function effectiveSpendLimitMicroUsd(
  config: TierlineConfig,
  tier: TierName,
  customerLimitMicroUsd: number | undefined,
): number | undefined {
  const { spendLimit } = config.tiers[tier];
  if (!spendLimit.allowed) return undefined;
  if (customerLimitMicroUsd !== undefined) return customerLimitMicroUsd;
  return spendLimit.defaultMonthlyUsd === undefined
    ? undefined
    : Math.round(spendLimit.defaultMonthlyUsd * MICRO_USD_PER_USD);
}

/**
 * Sets (or, with null, removes) a customer's monthly spend limit, the same way for the API and the
 * CLI:
 * - first on the month's spend item (this month's and the next), which admission checks: the next
 *   request is held to it, whatever the authorizer cache still says, and it is checked against the
 *   month's whole spend;
 * - then on the key items (the primary key and every named key), which the authorizer hands to
 *   every request (it seeds the limit of a new month), and on the customer item (what operators and
 *   `GET /v1/spend_limit` see). A failure part way is finished by running it again (every step sets
 *   a value).
 */
export async function setSpendLimit(
  customers: Pick<CustomersRepository, 'getCustomer' | 'updateCustomer' | 'updateCustomerKeys'>,
  spend: Pick<SpendTracker, 'setLimit'>,
  config: TierlineConfig,
  customerId: string,
  limitUsd: number | null,
): Promise<CustomerRecord> {
  if (
    limitUsd !== null &&
    (!Number.isFinite(limitUsd) || limitUsd < 0 || limitUsd > MAX_MONTHLY_LIMIT_USD)
  ) {
    throw new BadRequestError(
      `'monthly_limit_usd' must be a number from 0 to ${MAX_MONTHLY_LIMIT_USD}, or null to remove the limit.`,
      { param: 'monthly_limit_usd', code: 'invalid_value' },
    );
  }
  if (limitUsd !== null) limitUsd = roundToMicroUsd(limitUsd);
  const customer = await customers.getCustomer(customerId);
  if (customer?.status !== 'active' || !customer.keyHash) {
    throw new NotFoundError(`No active customer with id ${customerId}.`, {
      code: 'customer_not_found',
    });
  }
  if (!config.tiers[customer.tier].spendLimit.allowed) {
    throw new PermissionDeniedError(
      `Spend limits are not available on the ${customer.tier} tier: it has no charges. See GET /v1/plans.`,
      { code: 'spend_limit_not_available' },
    );
  }
  const ownMicroUsd = limitUsd === null ? undefined : Math.round(limitUsd * MICRO_USD_PER_USD);
  await spend.setLimit(customerId, effectiveSpendLimitMicroUsd(config, customer.tier, ownMicroUsd));
  if (limitUsd === null) {
    await customers.updateCustomerKeys(customerId, customer.keyHash, {}, ['spendLimitMicroUsd']);
    await customers.updateCustomer(customerId, {}, { remove: ['spendLimitUsd'] });
  } else {
    await customers.updateCustomerKeys(customerId, customer.keyHash, {
      spendLimitMicroUsd: ownMicroUsd,
    });
    await customers.updateCustomer(customerId, { spendLimitUsd: limitUsd });
  }
  return (await customers.getCustomer(customerId)) ?? customer;
}
