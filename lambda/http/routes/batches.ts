import { Hono } from 'hono';
import { toOpenAIBatch } from '../../batches/batch-objects';
import type { BatchService } from '../../batches/batch-service';
import { isWellFormedId } from '../../files/ids';
import { BadRequestError } from '../../openai/errors';
import type { OpenAIBatchList } from '../../openai/shapes/batches';
import type { AppEnv } from '../types';
import { listLimit, readJsonObject } from './request-bodies';

/**
 * The `after` cursor: a batch id. Anything else could never name a batch (and a key longer than
 * DynamoDB's 1 KB sort key would fail the query with a 500), so it is refused rather than sent on.
 */
function parseAfter(raw: string | undefined): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (!isWellFormedId('batch_', raw)) {
    throw new BadRequestError(
      `'after' must be a batch id (batch_...), got '${raw.slice(0, 100)}'.`,
      {
        param: 'after',
        code: 'invalid_value',
      },
    );
  }
  return raw;
}

/** OpenAI's Batch API: `POST/GET /batches`, `GET /batches/{id}`, `POST /batches/{id}/cancel`. */
export function batchRoutes(batches: BatchService): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();

  routes.post('/batches', async (c) => {
    const batch = await batches.create(c.get('principal'), await readJsonObject(c));
    return c.json(toOpenAIBatch(batch));
  });

  routes.get('/batches', async (c) => {
    const { batches: page, hasMore } = await batches.list(
      c.get('principal'),
      listLimit(c.req.query('limit')),
      parseAfter(c.req.query('after')),
    );
    return c.json<OpenAIBatchList>({
      object: 'list',
      data: page.map(toOpenAIBatch),
      // OpenAI's schema requires both as strings, also for an empty page (found by the spec check).
      first_id: page[0]?.batchId ?? '',
      last_id: page.at(-1)?.batchId ?? '',
      has_more: hasMore,
    });
  });

  routes.get('/batches/:batchId', async (c) => {
    return c.json(toOpenAIBatch(await batches.get(c.get('principal'), c.req.param('batchId'))));
  });

  routes.post('/batches/:batchId/cancel', async (c) => {
    return c.json(toOpenAIBatch(await batches.cancel(c.get('principal'), c.req.param('batchId'))));
  });

  return routes;
}
