import { Hono } from 'hono';
import { modelsOfTier } from '../../inference/models';
import { NotFoundError } from '../../openai/errors';
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
    const model = modelsOfTier(deps.config, c.get('principal').tier, deps.modelOwner).find((m) => m.id === id);
    if (!model) {
      throw new NotFoundError(
        `The model \`${id}\` does not exist or you do not have access to it.`,
        'model_not_found',
        'model',
      );
    }
    return c.json(model);
  });
  return routes;
}
