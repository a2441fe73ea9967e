import { Hono } from 'hono';
import { eventView, jobView } from '../../fine-tuning/jobs';
import { checkpointView, type JobsService } from '../../fine-tuning/jobs-service';
import { BadRequestError } from '../../openai/errors';
import type {
  FineTuningJobCheckpointList,
  FineTuningJobEventList,
  FineTuningJobList,
} from '../../openai/shapes/fine-tuning';
import type { AppEnv } from '../types';
import { listLimit, readJsonObject } from './request-bodies';

/** An `after` cursor: an id of ours, never a key longer than DynamoDB takes. */
function parseAfter(raw: string | undefined): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (!/^[A-Za-z0-9_-]{1,100}$/.test(raw)) {
    throw new BadRequestError(`'after' must be an id, got '${raw.slice(0, 100)}'.`, {
      param: 'after',
      code: 'invalid_value',
    });
  }
  return raw;
}

/**
 * OpenAI's fine-tuning jobs API: `POST/GET /fine_tuning/jobs`, `GET /fine_tuning/jobs/{id}`,
 * `.../events`, `.../checkpoints`, `POST .../cancel`. Lists are OpenAI's `{object: "list", data,
 * has_more}` (with `first_id`/`last_id` on checkpoints, as its schema has them).
 */
export function fineTuningJobRoutes(jobs: JobsService): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();

  routes.post('/fine_tuning/jobs', async (c) => {
    const job = await jobs.create(c.get('principal'), await readJsonObject(c), {
      idempotencyKey: c.req.header('idempotency-key'),
    });
    return c.json(jobView(job));
  });

  routes.get('/fine_tuning/jobs', async (c) => {
    const page = await jobs.list(
      c.get('principal'),
      listLimit(c.req.query('limit'), 20),
      parseAfter(c.req.query('after')),
    );
    return c.json<FineTuningJobList>({
      object: 'list',
      data: page.jobs.map(jobView),
      has_more: page.hasMore,
    });
  });

  routes.get('/fine_tuning/jobs/:jobId', async (c) => {
    return c.json(jobView(await jobs.get(c.get('principal'), c.req.param('jobId'))));
  });

  routes.get('/fine_tuning/jobs/:jobId/events', async (c) => {
    const page = await jobs.events(
      c.get('principal'),
      c.req.param('jobId'),
      listLimit(c.req.query('limit'), 20),
      parseAfter(c.req.query('after')),
    );
    return c.json<FineTuningJobEventList>({
      object: 'list',
      data: page.events.map(eventView),
      has_more: page.hasMore,
    });
  });

  routes.get('/fine_tuning/jobs/:jobId/checkpoints', async (c) => {
    const page = await jobs.checkpoints(
      c.get('principal'),
      c.req.param('jobId'),
      listLimit(c.req.query('limit'), 10),
      parseAfter(c.req.query('after')),
    );
    const data = page.checkpoints.map((checkpoint) => checkpointView(page.job, checkpoint));
    return c.json<FineTuningJobCheckpointList>({
      object: 'list',
      data,
      first_id: data[0]?.id ?? null,
      last_id: data.at(-1)?.id ?? null,
      has_more: page.hasMore,
    });
  });

  routes.post('/fine_tuning/jobs/:jobId/cancel', async (c) => {
    return c.json(jobView(await jobs.cancel(c.get('principal'), c.req.param('jobId'))));
  });

  return routes;
}
