import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import type { TierName } from '../../lib/config/schema';
import { authorizeRoute, requireKeysOrganization } from '../accounts/authorization';
import { ActiveCustomers, activeCustomerCacheMs } from '../customers/active-customers';
import { HttpError, InternalServerError, NotFoundError } from '../openai/errors';
import { tierlineOpenApiDocument } from './openapi/document';
import { corsForOrigins, matchesARoute, requestSizeLimit } from './request-guards';
import { accountRoutes, publicPlanRoutes } from './routes/account';
import { audioRoutes } from './routes/audio';
import { batchRoutes } from './routes/batches';
import { billingRoutes } from './routes/billing';
import { chatCompletionRoutes } from './routes/chat-completions';
import { fileRoutes } from './routes/files';
import { fineTuningJobRoutes } from './routes/fine-tuning-jobs';
import { fineTuningRoutes } from './routes/fine-tunings';
import { keyRoutes } from './routes/keys';
import { limitRoutes } from './routes/limits';
import { modelRoutes } from './routes/models';
import { organizationRoutes } from './routes/organization';
import { inviteAcceptRoutes, organizationMemberRoutes } from './routes/organization-members';
import { organizationUsageRoutes } from './routes/organization-usage';
import { responsesRoutes } from './routes/responses';
import { signUpRoutes } from './routes/sign-up';
import { uploadRoutes } from './routes/uploads';
import { usageRoutes } from './routes/usage';
import type { ApiDependencies, AppEnv } from './types';

export type { ApiDependencies } from './types';

/**
 * Routes that leave data behind (a file, an upload or its parts, a batch, a fine-tuning job, an
 * adapter, a key). Cancelling is not one: a customer being deleted may still stop what it started.
 */
const CREATING_ROUTES = [
  /\/files$/,
  /\/uploads$/,
  /\/uploads\/[^/]+\/(parts|complete)$/,
  /\/batches$/,
  /\/fine_tuning\/jobs$/,
  /\/fine_tunings$/,
  /\/keys$/,
  /\/organization\/projects$/,
  /\/organization\/admin_api_keys$/,
  // A stored response (`store` is OpenAI's default).
  /\/responses$/,
];

function createsData(method: string, path: string): boolean {
  return method === 'POST' && CREATING_ROUTES.some((route) => route.test(path));
}

/**
 * Creating routes as hot as chat (`POST /responses`): they take an "active" answer kept for half
 * the authorizer's TTL (lambda/customers/active-customers.ts), and await the check themselves,
 * beside their admission. The read is one DynamoDB round trip that chat does not make (CPU, and a
 * wait before the first token; docs/benchmarks.md, bench:gateway). The route answers the check's
 * 401 before any other error and before the model is called, so what it answers does not change.
 */
function checksBesideAdmission(method: string, path: string): boolean {
  return method === 'POST' && /\/responses$/.test(path);
}

/**
 * The routes of one base path: `/v1` (openai) has them all; `/openai/v1` (groq-sdk) all but the
 * ones Groq does not serve (the stored Responses routes, `x-v1-only` in the document).
 */
function versionOneRoutes(
  deps: ApiDependencies,
  base: 'openai' | 'groq',
  activeCustomers: { kept: ActiveCustomers; read: ActiveCustomers },
): Hono<AppEnv> {
  const v1 = new Hono<AppEnv>();
  v1.route('/', publicPlanRoutes(deps));
  // Before the organization is chosen: the invited person belongs to none yet.
  if (deps.accounts && deps.memberServices)
    v1.route('/', inviteAcceptRoutes(deps, deps.accounts, deps.memberServices));
  // A session with no organization yet signs up here, before the middleware that needs one.
  if (deps.signUp) v1.route('/', signUpRoutes(deps, deps.signUp));

  // Everything below needs a key; a URL no route serves answers 404 without asking for one.
  v1.use('*', async (c, next) => {
    if (matchesARoute(c)) {
      const authenticated = await deps.principalOf(c);
      requireKeysOrganization(authenticated, c.req.header('openai-organization'));
      authorizeRoute(authenticated, c.req.method, c.req.path);
      const principal = deps.accounts
        ? await deps.accounts.projects.pick(authenticated, c.req.header('openai-project'))
        : authenticated;
      c.set('principal', principal);
      if (createsData(c.req.method, c.req.path)) {
        const beside = checksBesideAdmission(c.req.method, c.req.path);
        // Only the hot route takes a kept answer; files, batches, jobs and keys read every time.
        const check = (beside ? activeCustomers.kept : activeCustomers.read).require(
          principal.customerId,
        );
        if (beside) {
          // Handled here so a failure never goes unhandled; the route awaits `check` itself.
          check.catch(() => undefined);
          c.set('activeCustomer', check);
        } else await check;
      }
    }
    await next();
  });
  v1.route('/', accountRoutes(deps));
  v1.route('/', modelRoutes(deps));
  v1.route('/', chatCompletionRoutes(deps));
  if (deps.responses)
    v1.route('/', responsesRoutes(deps, deps.responses, { stored: base === 'openai' }));
  if (deps.speech) v1.route('/', audioRoutes(deps, deps.speech));
  v1.route('/', usageRoutes(deps));
  if (deps.files) {
    // Each tier's storage quota from the config, unless the caller set its own.
    const files = {
      storageQuotaBytes: (tier: TierName) => deps.config.tiers[tier].storageQuotaBytes,
      ...deps.files,
    };
    v1.route('/', fileRoutes(files));
    v1.route('/', uploadRoutes(files));
  }
  if (deps.batches) v1.route('/', batchRoutes(deps.batches));
  if (deps.billing) v1.route('/', billingRoutes(deps.billing, deps));
  if (deps.fineTuningJobs) v1.route('/', fineTuningJobRoutes(deps.fineTuningJobs));
  if (deps.adapters) {
    const resolver = deps.fineTunedModels;
    v1.route(
      '/',
      fineTuningRoutes(deps.adapters, (id) => resolver?.forget(id)),
    );
  }
  v1.route('/', limitRoutes(deps));
  v1.route('/', keyRoutes(deps));
  if (deps.accounts) v1.route('/', organizationRoutes(deps, deps.accounts));
  if (deps.accounts && deps.memberServices)
    v1.route('/', organizationMemberRoutes(deps, deps.accounts, deps.memberServices));
  if (deps.organizationUsage) {
    const now = () => deps.now?.() ?? new Date();
    v1.route('/', organizationUsageRoutes(deps.organizationUsage, now));
  }
  return v1;
}

/** The whole HTTP API: the same app runs in Lambda and in local mode. */
export function createApiApp(deps: ApiDependencies): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.use('*', async (c, next) => {
    const requestId = deps.requestIdOf?.(c) ?? randomUUID();
    c.set('requestId', requestId);
    c.header('x-request-id', requestId);
    await next();
  });
  app.use('*', corsForOrigins(deps.config.environment.corsAllowedOrigins));
  app.use('*', requestSizeLimit());

  // Public, like the plans: what every route takes and answers (`lambda/http/openapi/`).
  app.get('/openapi.json', (c) => c.json(tierlineOpenApiDocument(deps.config)));

  // openai's client uses `https://HOST/v1`; groq-sdk appends `/openai/v1` to its base URL.
  // One for both base paths: a customer's "active" answer is kept once per process.
  const activeCustomers = {
    kept: new ActiveCustomers({
      customers: deps.customers,
      cacheMs:
        deps.activeCustomerCacheMs ??
        activeCustomerCacheMs(deps.config.environment.authorizerCacheTtlSeconds),
      now: deps.now && (() => (deps.now as () => Date)().getTime()),
    }),
    read: new ActiveCustomers({ customers: deps.customers, cacheMs: 0 }),
  };
  app.route('/v1', versionOneRoutes(deps, 'openai', activeCustomers));
  app.route('/openai/v1', versionOneRoutes(deps, 'groq', activeCustomers));

  app.notFound((c) => {
    const error = new NotFoundError(`Invalid URL (${c.req.method} ${c.req.path})`, {
      code: 'unknown_url',
    });
    return c.json(error.toBody(), 404);
  });

  app.onError((err, c) => {
    const requestId = c.get('requestId') ?? 'unknown';
    const error = err instanceof HttpError ? err : new InternalServerError(requestId);
    if (!(err instanceof HttpError)) deps.logError?.('unhandled error', { requestId, error: err });
    for (const [name, value] of Object.entries(error.headers)) c.header(name, value);
    c.header('x-request-id', requestId);
    return c.json(error.toBody(), error.status as 400);
  });

  return app;
}
