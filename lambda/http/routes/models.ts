import { Hono } from 'hono';
import { modelsOfTier, resolveModel } from '../../inference/models';
import type { ApiDependencies, AppEnv } from '../types';

/** `GET /models` and `GET /models/{id}`: the models of the caller's tier. */
export function modelRoutes(deps: ApiDependencies): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.get('/models', (c) =>
    c.json({ object: 'list', data: modelsOfTier(deps.config, c.get('principal').tier, deps.modelOwner) }),
  );
  // Model ids contain dots and may contain slashes (fine-tunes): take the rest of the path.
  routes.get('/models/:id{.+}', (c) => {
    const id = c.req.param('id');
    const { tier } = c.get('principal');
    // The same answer as a chat completion with this model: 404 unknown, 403 naming the tier that has it.
    resolveModel(deps.config, tier, id);
    const model = modelsOfTier(deps.config, tier, deps.modelOwner).find((m) => m.id === id);
    if (!model) throw new Error(`resolveModel accepted ${id}, which modelsOfTier does not list`);
    return c.json(model);
  });
  return routes;
}
