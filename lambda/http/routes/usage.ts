import { Hono } from 'hono';
import type { Principal } from '../../customers/authenticate';
import { requestError } from '../../inference/request-errors';
import { formatUsd, MICRO_USD_PER_USD } from '../../metering/pricing';
import {
  effectiveSpendLimitMicroUsd,
  setSpendLimit,
  spendLimitUpdateSchema,
} from '../../metering/spend-limit-settings';
import { BadRequestError } from '../../openai/errors';
import type { SpendLimit } from '../../openai/shapes/usage';
import type { ApiDependencies, AppEnv } from '../types';

const today = (now: Date) => now.toISOString().slice(0, 10);
const monthStart = (now: Date) => `${now.toISOString().slice(0, 7)}-01`;

/**
 * What a caller may not see by name in `/v1/usage`: for a project key, the `ft:` models that are
 * not its project's (another project's answer 404 on every route, so their ids, suffixes included,
 * are not said here either; a deleted one no longer says whose it was). Admin keys and console
 * sessions act for the whole organization and see every model.
 */
function unlistedFor(deps: ApiDependencies, principal: Principal) {
  if (principal.kind !== 'project_key') return undefined;
  return async (models: readonly string[]): Promise<ReadonlySet<string>> => {
    const fineTuned = models.filter((model) => model.startsWith('ft:'));
    if (fineTuned.length === 0) return new Set();
    const visible = deps.adapters
      ? await deps.adapters.visible(principal, fineTuned)
      : new Set<string>();
    return new Set(fineTuned.filter((model) => !visible.has(model)));
  };
}

/** `GET /usage`, `GET /spend_limit`, `PUT /spend_limit`: what a customer used and may spend. */
export function usageRoutes(deps: ApiDependencies): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  const now = () => deps.now?.() ?? new Date();

  routes.get('/usage', async (c) => {
    const groupBy = c.req.query('group_by') ?? 'day';
    if (groupBy !== 'day' && groupBy !== 'model') {
      throw new BadRequestError("'group_by' must be 'day' or 'model'.", {
        param: 'group_by',
        code: 'invalid_value',
      });
    }
    const start = c.req.query('start_date') ?? monthStart(now());
    const end = c.req.query('end_date') ?? today(now());
    const principal = c.get('principal');
    return c.json(
      await deps.usage.queryUsage(principal.customerId, start, end, groupBy, {
        unlisted: unlistedFor(deps, principal),
      }),
    );
  });

  /** This month's spend as the ledger (its aggregates) has it, in micro-USD. */
  async function ledgerSpentThisMonth(customerId: string): Promise<number> {
    const usage = await deps.usage.queryUsage(customerId, monthStart(now()), today(now()), 'model');
    return Math.round(Number(usage.total.cost_usd) * MICRO_USD_PER_USD);
  }

  /** The view of `GET/PUT /spend_limit`: the limit that applies, this month's spend and what is held in flight. */
  async function spendView(
    principal: AppEnv['Variables']['principal'],
    customerLimitUsd: number | undefined,
  ): Promise<SpendLimit> {
    const own =
      customerLimitUsd === undefined ? undefined : Math.round(customerLimitUsd * MICRO_USD_PER_USD);
    const limitMicroUsd = effectiveSpendLimitMicroUsd(deps.config, principal.tier, own);
    const [tracked, ledgerMicroUsd] = await Promise.all([
      deps.spend.getMonth(principal.customerId),
      ledgerSpentThisMonth(principal.customerId),
    ]);
    const { spendLimit } = deps.config.tiers[principal.tier];
    return {
      object: 'spend_limit',
      available: spendLimit.allowed,
      month: tracked.month,
      monthly_limit_usd: limitMicroUsd === undefined ? null : Number(formatUsd(limitMicroUsd)),
      spent_usd: formatUsd(Math.max(tracked.spentMicroUsd, ledgerMicroUsd)),
      reserved_usd: formatUsd(tracked.reservedMicroUsd),
      alert_thresholds_percent: spendLimit.alertThresholdsPercent,
    };
  }

  routes.get('/spend_limit', async (c) => {
    const principal = c.get('principal');
    const customer = await deps.customers.getCustomer(principal.customerId);
    return c.json(await spendView(principal, customer?.spendLimitUsd));
  });

  routes.put('/spend_limit', async (c) => {
    const principal = c.get('principal');
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      throw new BadRequestError('We could not parse the JSON body of your request.');
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new BadRequestError(
        'The request body must be a JSON object: {"monthly_limit_usd": 50} or null.',
      );
    }
    const parsed = spendLimitUpdateSchema.safeParse(body);
    if (!parsed.success) throw requestError(parsed.error.issues, body, spendLimitUpdateSchema);
    const limit = parsed.data.monthly_limit_usd;
    const customer = await setSpendLimit(
      deps.customers,
      deps.spend,
      deps.config,
      principal.customerId,
      limit,
    );
    if (limit !== null) {
      // Spend that reached the ledger without being settled on the spend item (replayed dead
      // letters).
      await deps.spend.catchUp(
        principal.customerId,
        await ledgerSpentThisMonth(principal.customerId),
      );
    }
    return c.json(await spendView(principal, customer.spendLimitUsd));
  });

  return routes;
}
