import type { Context } from 'hono';
import { Hono } from 'hono';
import type { AuditEventType } from '../../accounts/audit-log';
import {
  adminApiKeyView,
  auditLogView,
  projectApiKeyView,
  projectView,
} from '../../accounts/organization-views';
import { parseProjectName } from '../../accounts/projects';
import { CustomerKeys, isAdminKey, parseKeyName } from '../../customers/customer-keys';
import type { LambdaBindings } from '../../customers/lambda-principal';
import { BadRequestError, NotFoundError } from '../../openai/errors';
import type { AccountServicesApi, ApiDependencies, AppEnv } from '../types';
import { organizationSpendRoutes } from './organization-spend';
import { listLimit, pageOf, readJsonObject } from './request-bodies';

/** Where a request came from: API Gateway's source IP in Lambda, the socket's peer locally. */
export function requestOrigin(c: Context) {
  const lambda = (c.env as LambdaBindings | undefined)?.event?.requestContext?.identity;
  const socket = (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)
    ?.incoming?.socket;
  const ip = lambda?.sourceIp ?? socket?.remoteAddress;
  const userAgent = c.req.header('user-agent');
  return { ...(ip ? { ip } : {}), ...(userAgent ? { userAgent } : {}) };
}

/** Records an administrative action of this request in the audit log. */
export function recordAudit(
  accounts: AccountServicesApi,
  c: Context<AppEnv>,
  type: AuditEventType,
  details: Record<string, unknown>,
  projectId?: string,
) {
  return accounts.audit.record(c.get('principal'), requestOrigin(c), type, details, projectId);
}

function projectRoutes(accounts: AccountServicesApi): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  const { projects } = accounts;
  routes.get('/organization/projects', async (c) => {
    const all = await projects.list(c.get('principal'));
    const archived = c.req.query('include_archived') === 'true';
    const shown = all.filter((p) => archived || p.status === 'active').map(projectView);
    return c.json(pageOf(shown, (p) => p.id, c));
  });
  routes.post('/organization/projects', async (c) => {
    const name = parseProjectName((await readJsonObject(c)).name);
    const project = await projects.create(c.get('principal'), name);
    await recordAudit(accounts, c, 'project.created', {
      id: project.projectId,
      data: { name, title: name },
    });
    return c.json(projectView(project));
  });
  routes.get('/organization/projects/:project_id', async (c) =>
    c.json(projectView(await projects.get(c.get('principal'), c.req.param('project_id')))),
  );
  routes.post('/organization/projects/:project_id', async (c) => {
    const name = parseProjectName((await readJsonObject(c)).name);
    const id = c.req.param('project_id');
    const project = await projects.rename(c.get('principal'), id, name);
    await recordAudit(accounts, c, 'project.updated', { id, changes_requested: { title: name } });
    return c.json(projectView(project));
  });
  return routes;
}

function projectKeyRoutes(accounts: AccountServicesApi, keys: CustomerKeys): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  const { projects } = accounts;
  /** The project's keys, after checking that the project is the caller's (404 otherwise). */
  const keysOf = async (c: Context<AppEnv>) => {
    const project = await projects.get(c.get('principal'), c.req.param('project_id') ?? '');
    const all = await keys.records(c.get('principal'));
    return all.filter((k) => !isAdminKey(k) && keys.projectOf(k) === project.projectId);
  };
  const keyOf = async (c: Context<AppEnv>) => {
    const id = c.req.param('api_key_id');
    const key = (await keysOf(c)).find((k) => k.keyId === id);
    if (!key)
      throw new NotFoundError(`No API key found with id '${id}'.`, { code: 'key_not_found' });
    return key;
  };
  routes.post('/organization/projects/:project_id/archive', async (c) => {
    const id = c.req.param('project_id');
    const { project, keyHashes } = await projects.archive(c.get('principal'), id);
    // Archived first, its keys revoked after: an archive repeated after a crash finishes the job.
    // The hashes on the project's item hold every key a racing create wrote (or will: its hash is
    // barred); the listing adds keys made before projects noted them.
    await keys.revokeProjectKeys(project.customerId, keyHashes);
    for (const key of await keysOf(c)) await keys.revoke(c.get('principal'), key.keyId);
    await recordAudit(accounts, c, 'project.archived', { id }, id);
    return c.json(projectView(project));
  });
  routes.get('/organization/projects/:project_id/api_keys', async (c) => {
    const active = (await keysOf(c)).filter((k) => k.status === 'active').map(projectApiKeyView);
    return c.json(pageOf(active, (k) => k.id, c));
  });
  routes.get('/organization/projects/:project_id/api_keys/:api_key_id', async (c) =>
    c.json(projectApiKeyView(await keyOf(c))),
  );
  routes.delete('/organization/projects/:project_id/api_keys/:api_key_id', async (c) => {
    const key = await keyOf(c);
    await keys.revoke(c.get('principal'), key.keyId);
    await recordAudit(accounts, c, 'api_key.deleted', { id: key.keyId }, c.req.param('project_id'));
    return c.json({ object: 'organization.project.api_key.deleted', id: key.keyId, deleted: true });
  });
  return routes;
}

function rateLimitRoutes(accounts: AccountServicesApi): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  const { rateLimits } = accounts;
  if (!rateLimits) return routes;
  routes.get('/organization/projects/:project_id/rate_limits', async (c) => {
    const all = await rateLimits.list(c.get('principal'), c.req.param('project_id'));
    return c.json(pageOf(all, (limit) => limit.id, c));
  });
  routes.post('/organization/projects/:project_id/rate_limits/:rate_limit_id', async (c) => {
    const body = await readJsonObject(c);
    const projectId = c.req.param('project_id');
    const id = c.req.param('rate_limit_id');
    const limit = await rateLimits.modify(c.get('principal'), projectId, id, body);
    await recordAudit(
      accounts,
      c,
      'rate_limit.updated',
      { id, changes_requested: body },
      projectId,
    );
    return c.json(limit);
  });
  const spendLimitPath = '/organization/projects/:project_id/spend_limit';
  routes.get(spendLimitPath, async (c) =>
    c.json(await rateLimits.spendLimit(c.get('principal'), c.req.param('project_id'))),
  );
  routes.post(spendLimitPath, async (c) => {
    const body = await readJsonObject(c);
    const projectId = c.req.param('project_id');
    return c.json(await rateLimits.setSpendLimit(c.get('principal'), projectId, body));
  });
  routes.delete(spendLimitPath, async (c) => {
    await rateLimits.setSpendLimit(c.get('principal'), c.req.param('project_id'), undefined);
    return c.json({ object: 'project.spend_limit.deleted', deleted: true });
  });
  return routes;
}

function adminKeyRoutes(accounts: AccountServicesApi, keys: CustomerKeys): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  const adminKeys = async (c: Context<AppEnv>) =>
    (await keys.records(c.get('principal'))).filter((k) => isAdminKey(k) && k.status === 'active');
  const keyOf = async (c: Context<AppEnv>) => {
    const id = c.req.param('key_id');
    const key = (await adminKeys(c)).find((k) => k.keyId === id);
    if (!key)
      throw new NotFoundError(`No admin API key found with id '${id}'.`, { code: 'key_not_found' });
    return key;
  };
  routes.get('/organization/admin_api_keys', async (c) => {
    const all = (await adminKeys(c)).map(adminApiKeyView);
    if (c.req.query('order') === 'desc') all.reverse();
    return c.json(pageOf(all, (k) => k.id, c));
  });
  routes.post('/organization/admin_api_keys', async (c) => {
    const body = await readJsonObject(c);
    if (body.expires_in_seconds !== undefined && body.expires_in_seconds !== null) {
      throw new BadRequestError(
        'Admin keys do not expire here: omit expires_in_seconds and delete the key when done.',
        {
          param: 'expires_in_seconds',
          code: 'unsupported_parameter',
        },
      );
    }
    const { record, key } = await keys.issue(c.get('principal'), parseKeyName(body), {
      kind: 'admin_key',
    });
    await recordAudit(accounts, c, 'api_key.created', {
      id: record.keyId,
      data: { scopes: ['api.organization.admin'] },
    });
    c.header('cache-control', 'no-store');
    return c.json({ ...adminApiKeyView(record), value: key });
  });
  routes.get('/organization/admin_api_keys/:key_id', async (c) =>
    c.json(adminApiKeyView(await keyOf(c))),
  );
  routes.delete('/organization/admin_api_keys/:key_id', async (c) => {
    const key = await keyOf(c);
    await keys.revoke(c.get('principal'), key.keyId, 'admin_key');
    await recordAudit(accounts, c, 'api_key.deleted', { id: key.keyId });
    return c.json({ object: 'organization.admin_api_key.deleted', id: key.keyId, deleted: true });
  });
  return routes;
}

function auditLogRoutes(accounts: AccountServicesApi): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.get('/organization/audit_logs', async (c) => {
    const limit = listLimit(c.req.query('limit'));
    const after = c.req.query('after');
    if (after !== undefined && !/^audit_log-[0-9a-zA-Z]{21}$/.test(after)) {
      throw new BadRequestError("'after' must be the id of an audit log entry (audit_log-...).", {
        param: 'after',
        code: 'invalid_value',
      });
    }
    const principal = c.get('principal');
    const { entries, hasMore } = await accounts.auditLog.page(principal.customerId, {
      limit,
      after,
    });
    const names = new Map(
      (await accounts.projects.list(principal)).map((p) => [p.projectId, p.name]),
    );
    const data = entries.map((entry) => auditLogView(entry, names));
    return c.json({
      object: 'list' as const,
      data,
      first_id: data[0]?.id ?? null,
      last_id: data[data.length - 1]?.id ?? null,
      has_more: hasMore,
    });
  });
  return routes;
}

/**
 * OpenAI's administration API (`/v1/organization/...`): projects, their API keys, admin API keys
 * and the audit log. Who may call it is decided before (lambda/accounts/authorization.ts): admin
 * keys and owners' sessions; members read projects.
 */
export function organizationRoutes(
  deps: ApiDependencies,
  accounts: AccountServicesApi,
): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  const keys = new CustomerKeys(deps.customers, () => deps.now?.() ?? new Date());
  routes.route('/', projectRoutes(accounts));
  routes.route('/', projectKeyRoutes(accounts, keys));
  routes.route('/', rateLimitRoutes(accounts));
  routes.route('/', adminKeyRoutes(accounts, keys));
  routes.route('/', auditLogRoutes(accounts));
  routes.route('/', organizationSpendRoutes(deps, accounts));
  return routes;
}
