import type { Context } from 'hono';
import { Hono } from 'hono';
import { MICRO_USD_PER_CENT, MICRO_USD_PER_USD } from '../../metering/pricing';
import {
  effectiveSpendLimitMicroUsd,
  setSpendLimit,
  spendThresholdCents,
} from '../../metering/spend-limit-settings';
import { BadRequestError, NotFoundError } from '../../openai/errors';
import type { AccountServicesApi, ApiDependencies, AppEnv } from '../types';
import { recordAudit } from './organization';
import { listLimit, readJsonObject } from './request-bodies';

/** A page of spend alerts (few: at most 100 a scope), in OpenAI's `order`, after/before a cursor. */
function alertPage<T extends { id: string }>(items: T[], c: Context) {
  const order = c.req.query('order') ?? 'asc';
  if (order !== 'asc' && order !== 'desc') {
    throw new BadRequestError("'order' must be 'asc' or 'desc'.", {
      param: 'order',
      code: 'invalid_value',
    });
  }
  const limit = listLimit(c.req.query('limit'));
  const sorted = order === 'desc' ? [...items].reverse() : items;
  const after = c.req.query('after');
  const before = c.req.query('before');
  const cursorIndex = (id: string) => sorted.findIndex((item) => item.id === id);
  // A cursor that names nothing of the caller's answers an empty page, never another's items.
  let window: T[] = sorted;
  if (after !== undefined)
    window = cursorIndex(after) < 0 ? [] : sorted.slice(cursorIndex(after) + 1);
  if (before !== undefined) {
    const end = window.findIndex((item) => item.id === before);
    window = end < 0 ? [] : window.slice(Math.max(0, end - limit), end);
  }
  const data = window.slice(0, limit);
  return {
    object: 'list' as const,
    data,
    first_id: data[0]?.id ?? null,
    last_id: data[data.length - 1]?.id ?? null,
    has_more: data.length < window.length,
  };
}

const organizationLimitView = (limitMicroUsd: number) => ({
  object: 'organization.spend_limit' as const,
  threshold_amount: Math.floor(limitMicroUsd / MICRO_USD_PER_CENT),
  currency: 'USD' as const,
  interval: 'month' as const,
  enforcement: { status: 'enforcing' as const },
});

/**
 * `/organization/spend_limit`: the organization's monthly spend limit in OpenAI's shape, on the
 * same store as `/v1/spend_limit` (spend-limit-settings.ts: the month's spend item, the keys, the
 * customer item): one limit, two views. Deleting it leaves the tier's default, if it has one.
 */
function spendLimitRoutes(deps: ApiDependencies, accounts: AccountServicesApi): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  const path = '/organization/spend_limit';
  const limitOf = async (c: Context<AppEnv>) => {
    const principal = c.get('principal');
    const customer = await deps.customers.getCustomer(principal.customerId);
    const own =
      customer?.spendLimitUsd === undefined
        ? undefined
        : Math.round(customer.spendLimitUsd * MICRO_USD_PER_USD);
    return effectiveSpendLimitMicroUsd(deps.config, principal.tier, own);
  };
  // Set first: the route walk takes a path's operations in this order.
  routes.post(path, async (c) => {
    const cents = spendThresholdCents(await readJsonObject(c));
    const principal = c.get('principal');
    await setSpendLimit(deps.customers, deps.spend, deps.config, principal.customerId, cents / 100);
    await recordAudit(accounts, c, 'organization.updated', {
      id: principal.customerId,
      changes_requested: { spend_limit: { threshold_amount: cents, interval: 'month' } },
    });
    return c.json(organizationLimitView(cents * MICRO_USD_PER_CENT));
  });
  routes.get(path, async (c) => {
    const limit = await limitOf(c);
    if (limit === undefined)
      throw new NotFoundError('The organization has no spend limit.', {
        code: 'spend_limit_not_found',
      });
    return c.json(organizationLimitView(limit));
  });
  routes.delete(path, async (c) => {
    const principal = c.get('principal');
    await setSpendLimit(deps.customers, deps.spend, deps.config, principal.customerId, null);
    await recordAudit(accounts, c, 'organization.updated', {
      id: principal.customerId,
      changes_requested: { spend_limit: null },
    });
    return c.json({ object: 'organization.spend_limit.deleted' as const, deleted: true });
  });
  return routes;
}

function spendAlertRoutes(accounts: AccountServicesApi): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  const { spendAlerts } = accounts;
  if (!spendAlerts) return routes;
  const audit = (c: Context<AppEnv>, id: string, change: unknown, projectId?: string) =>
    projectId === undefined
      ? recordAudit(accounts, c, 'organization.updated', {
          id: c.get('principal').customerId,
          changes_requested: { spend_alert: { id, change } },
        })
      : recordAudit(
          accounts,
          c,
          'project.updated',
          { id: projectId, changes_requested: { spend_alert: { id, change } } },
          projectId,
        );
  routes.get('/organization/spend_alerts', async (c) =>
    c.json(alertPage(await spendAlerts.list(c.get('principal')), c)),
  );
  routes.post('/organization/spend_alerts', async (c) => {
    const alert = await spendAlerts.create(c.get('principal'), await readJsonObject(c));
    await audit(c, alert.id, 'created');
    return c.json(alert);
  });
  // One alert, the organization's or (with :project_id) a project's.
  for (const one of [
    '/organization/spend_alerts/:alert_id',
    '/organization/projects/:project_id/spend_alerts/:alert_id',
  ]) {
    routes.get(one, async (c) => {
      const id = c.req.param('alert_id') ?? '';
      return c.json(await spendAlerts.get(c.get('principal'), id, c.req.param('project_id')));
    });
    routes.post(one, async (c) => {
      const id = c.req.param('alert_id') ?? '';
      const projectId = c.req.param('project_id');
      const body = await readJsonObject(c);
      const alert = await spendAlerts.update(c.get('principal'), id, body, projectId);
      await audit(c, id, 'updated', projectId);
      return c.json(alert);
    });
    routes.delete(one, async (c) => {
      const id = c.req.param('alert_id') ?? '';
      const projectId = c.req.param('project_id');
      await spendAlerts.delete(c.get('principal'), id, projectId);
      await audit(c, id, 'deleted', projectId);
      const object = projectId ? 'project.spend_alert.deleted' : 'organization.spend_alert.deleted';
      return c.json({ id, object, deleted: true });
    });
  }
  const project = '/organization/projects/:project_id/spend_alerts';
  routes.get(project, async (c) =>
    c.json(alertPage(await spendAlerts.list(c.get('principal'), c.req.param('project_id')), c)),
  );
  routes.post(project, async (c) => {
    const projectId = c.req.param('project_id');
    const body = await readJsonObject(c);
    const alert = await spendAlerts.create(c.get('principal'), body, projectId);
    await audit(c, alert.id, 'created', projectId);
    return c.json(alert);
  });
  return routes;
}

/** The organization's spend limit and the spend alerts of the organization and its projects. */
export function organizationSpendRoutes(
  deps: ApiDependencies,
  accounts: AccountServicesApi,
): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.route('/', spendLimitRoutes(deps, accounts));
  routes.route('/', spendAlertRoutes(accounts));
  return routes;
}
