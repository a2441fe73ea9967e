import type { Context } from 'hono';
import { Hono } from 'hono';
import {
  BUCKET_SECONDS,
  type BucketQuery,
  type BucketWidth,
  type GroupField,
  type OrganizationUsage,
  type RecordFilter,
} from '../../metering/organization-usage';
import { BadRequestError } from '../../openai/errors';
import type { AppEnv } from '../types';

/**
 * OpenAI's usage and costs (`GET /v1/organization/usage/completions`, `.../audio_transcriptions`,
 * `/v1/organization/costs`): the query parameters checked here, each refusal naming its parameter;
 * the answer from the ledger (lambda/metering/organization-usage.ts).
 */

/** OpenAI's bucket limits per width: the default and the most one answer holds. */
const BUCKET_LIMITS: Record<BucketWidth, { default: number; max: number }> = {
  '1d': { default: 7, max: 31 },
  '1h': { default: 24, max: 168 },
  '1m': { default: 60, max: 1_440 },
};
/** Costs: days only, up to 180 of them (OpenAI's). */
const COST_LIMITS = { default: 7, max: 180 };

const invalid = (param: string, message: string) =>
  new BadRequestError(message, { param, code: 'invalid_value' });

/**
 * A parameter's values: the `openai` client sends arrays as `name[]=a&name[]=b`, curl users as
 * `name=a&name=b`; both are read.
 */
function values(c: Context, name: string): string[] | undefined {
  const all = [...(c.req.queries(name) ?? []), ...(c.req.queries(`${name}[]`) ?? [])];
  return all.length > 0 ? all : undefined;
}

/** A single-valued parameter; repeated, it is refused rather than one value picked. */
function single(c: Context, name: string): string | undefined {
  const all = c.req.queries(name);
  if (all && all.length > 1) throw invalid(name, `'${name}' may be given once.`);
  return all?.[0];
}

function unixSeconds(c: Context, name: string): number | undefined {
  const raw = single(c, name);
  if (raw === undefined) return undefined;
  const seconds = /^\d{1,12}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(seconds))
    throw invalid(name, `'${name}' must be a time in Unix seconds (a whole number), not '${raw}'.`);
  return seconds;
}

function integerIn(c: Context, name: string, min: number, max: number, fallback: number): number {
  const raw = single(c, name);
  if (raw === undefined) return fallback;
  const value = /^\d{1,6}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(value >= min && value <= max))
    throw invalid(name, `'${name}' must be a whole number from ${min} to ${max}, not '${raw}'.`);
  return value;
}

/** The buckets asked for: start, end (now by default), width, limit and the page to resume at. */
function bucketQuery(c: Context, now: Date, widths: readonly BucketWidth[], costs: boolean) {
  const start = unixSeconds(c, 'start_time');
  if (start === undefined)
    throw new BadRequestError("'start_time' is required (Unix seconds).", {
      param: 'start_time',
      code: 'missing_required_parameter',
    });
  const end = unixSeconds(c, 'end_time') ?? Math.ceil(now.getTime() / 1000);
  if (end <= start) throw invalid('end_time', "'end_time' must be after 'start_time'.");
  const width = (single(c, 'bucket_width') ?? '1d') as BucketWidth;
  if (!widths.includes(width))
    throw invalid('bucket_width', `'bucket_width' must be one of ${widths.join(', ')}.`);
  const bounds = costs ? COST_LIMITS : BUCKET_LIMITS[width];
  const limit = integerIn(c, 'limit', 1, bounds.max, bounds.default);
  const query: BucketQuery = { start, end, width, limit };
  const page = single(c, 'page');
  if (page !== undefined) {
    const seconds = /^page_\d{1,12}$/.test(page) ? Number(page.slice(5)) : Number.NaN;
    const seconds0 = start - (start % BUCKET_SECONDS[width]);
    // A cursor of this same query only: a bucket boundary inside its range.
    if (
      !(seconds > seconds0 && seconds < end && (seconds - seconds0) % BUCKET_SECONDS[width] === 0)
    )
      throw invalid('page', "'page' must be the next_page of an answer to this same query.");
    query.resumeAt = seconds;
  }
  return query;
}

function recordFilter(c: Context, withModels: boolean, withBatch: boolean): RecordFilter {
  const set = (name: string) => {
    const all = values(c, name);
    return all ? new Set(all) : undefined;
  };
  const filter: RecordFilter = {};
  const projectIds = set('project_ids');
  const apiKeyIds = set('api_key_ids');
  const userIds = set('user_ids');
  const models = withModels ? set('models') : undefined;
  if (projectIds) filter.projectIds = projectIds;
  if (apiKeyIds) filter.apiKeyIds = apiKeyIds;
  if (userIds) filter.userIds = userIds;
  if (models) filter.models = models;
  const batch = withBatch ? single(c, 'batch') : undefined;
  if (batch !== undefined) {
    if (batch !== 'true' && batch !== 'false')
      throw invalid('batch', "'batch' must be true or false.");
    filter.batch = batch === 'true';
  }
  return filter;
}

function groupBy(c: Context, allowed: readonly GroupField[]): Set<GroupField> {
  const fields = values(c, 'group_by') ?? [];
  for (const field of fields) {
    if (!allowed.includes(field as GroupField))
      throw invalid('group_by', `'group_by' takes ${allowed.join(', ')}; '${field}' is not one.`);
  }
  return new Set(fields as GroupField[]);
}

/**
 * The routes. Who may call them is decided before (lambda/accounts/authorization.ts): admin keys
 * and owners; members read them; project keys never.
 */
export function organizationUsageRoutes(
  usage: Pick<OrganizationUsage, 'completions' | 'audioTranscriptions' | 'costs'>,
  now: () => Date,
): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  const ALL_WIDTHS = ['1m', '1h', '1d'] as const;
  routes.get('/organization/usage/completions', async (c) => {
    const query = bucketQuery(c, now(), ALL_WIDTHS, false);
    const filter = recordFilter(c, true, true);
    const fields = groupBy(c, [
      'project_id',
      'user_id',
      'api_key_id',
      'model',
      'batch',
      'service_tier',
    ]);
    return c.json(await usage.completions(c.get('principal').customerId, query, filter, fields));
  });
  routes.get('/organization/usage/audio_transcriptions', async (c) => {
    const query = bucketQuery(c, now(), ALL_WIDTHS, false);
    const filter = recordFilter(c, true, false);
    const fields = groupBy(c, ['project_id', 'user_id', 'api_key_id', 'model']);
    const customerId = c.get('principal').customerId;
    return c.json(await usage.audioTranscriptions(customerId, query, filter, fields));
  });
  routes.get('/organization/costs', async (c) => {
    const query = bucketQuery(c, now(), ['1d'], true);
    const filter = recordFilter(c, false, false);
    const fields = groupBy(c, ['project_id', 'line_item', 'api_key_id']);
    return c.json(await usage.costs(c.get('principal').customerId, query, filter, fields));
  });
  return routes;
}
