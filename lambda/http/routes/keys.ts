import { Hono } from 'hono';
import { CustomerKeys, parseKeyName } from '../../customers/customer-keys';
import { BadRequestError } from '../../openai/errors';
import type { ApiKeyList } from '../../openai/shapes/keys';
import type { ApiDependencies, AppEnv } from '../types';

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
    // The secret is in this answer only: no cache may keep it.
    c.header('cache-control', 'no-store');
    // 200 like every create of the OpenAI API (files, batches, jobs).
    return c.json(await keys.create(c.get('principal'), parseKeyName(body)));
  });

  routes.delete('/keys/:id', async (c) =>
    c.json(await keys.revoke(c.get('principal'), c.req.param('id'))),
  );

  return routes;
}
