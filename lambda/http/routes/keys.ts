import { Hono } from 'hono';
import { scopesOf } from '../../accounts/organization-views';
import { hashApiKey } from '../../customers/api-keys';
import { CustomerKeys, parseKeyName } from '../../customers/customer-keys';
import { permissionsFromBody } from '../../customers/key-permissions';
import { BadRequestError } from '../../openai/errors';
import type { ApiKeyList } from '../../openai/shapes/keys';
import type { ApiDependencies, AppEnv } from '../types';
import { recordAudit } from './organization';

/** `GET /keys`, `POST /keys`, `DELETE /keys/{id}`: the caller's own API keys, never another customer's. */
export function keyRoutes(deps: ApiDependencies): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  const keys = new CustomerKeys(deps.customers, () => deps.now?.() ?? new Date());

  routes.get('/keys', async (c) =>
    c.json<ApiKeyList>({ object: 'list', data: await keys.list(c.get('principal')) }),
  );

  routes.post('/keys', async (c) => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      throw new BadRequestError(
        'We could not parse the JSON body of your request: send {"name": "..."}.',
      );
    }
    const name = parseKeyName(body);
    const scope = permissionsFromBody((body as { permissions?: unknown } | null)?.permissions);
    if ('error' in scope) throw new BadRequestError(scope.error, { param: 'permissions' });
    const principal = c.get('principal');
    const projectId = deps.accounts
      ? await deps.accounts.projects.requireActive(principal, principal.projectId)
      : principal.projectId;
    // The secret is in this answer only: no cache may keep it.
    c.header('cache-control', 'no-store');
    const created = await keys.create(principal, name, {
      kind: 'project_key',
      projectId,
      permissions: scope.permissions,
    });
    // After the key is stored: a limit changed meanwhile is written on it by one side or the other.
    await deps.accounts?.rateLimits?.applyToKey(
      principal.customerId,
      projectId,
      hashApiKey(created.key),
    );
    if (deps.accounts) {
      await recordAudit(
        deps.accounts,
        c,
        'api_key.created',
        { id: created.id, data: { scopes: scopesOf(scope.permissions) } },
        projectId,
      );
    }
    // 200 like every create of the OpenAI API (files, batches, jobs).
    return c.json(created);
  });

  routes.delete('/keys/:id', async (c) => {
    const revoked = await keys.revoke(c.get('principal'), c.req.param('id'));
    if (deps.accounts) {
      await recordAudit(
        deps.accounts,
        c,
        'api_key.deleted',
        { id: revoked.id },
        revoked.project_id,
      );
    }
    return c.json(revoked);
  });

  return routes;
}
