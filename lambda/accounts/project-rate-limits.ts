import type { ModelLimits, TierlineConfig } from '../../lib/config/schema';
import type { Principal } from '../customers/authenticate';
import type { CustomersRepository } from '../customers/customers-repository';
import { defaultProjectId, projectOrDefault } from '../customers/key-permissions';
import { narrowLimits, type ProjectModelLimits, projectScope } from '../customers/project-limits';
import { MICRO_USD_PER_CENT } from '../metering/pricing';
import type { SpendTracker } from '../metering/spend';
import { effectiveSpendLimitMicroUsd, spendThresholdCents } from '../metering/spend-limit-settings';
import { BadRequestError, NotFoundError } from '../openai/errors';
import type { ProjectRecord, Projects, ProjectsRepository } from './projects';

/**
 * OpenAI's project rate limits (`/v1/organization/projects/{id}/rate_limits`): per chat model of
 * the organization's tier, requests per minute and per day and tokens per minute, which a project
 * can only narrow. A change is written on the project, then on each of its keys, where the
 * authorizer already reads it; the limiter counts a project with limits on counters of its own
 * beside the organization's (lambda/metering/request-metering.ts).
 */

/** The update body's fields Tierline enforces, and the limit each sets. */
const FIELDS = {
  max_requests_per_1_minute: 'rpm',
  max_tokens_per_1_minute: 'tpm',
  max_requests_per_1_day: 'rpd',
} as const satisfies Record<string, keyof ProjectModelLimits>;
type Field = keyof typeof FIELDS;
/** OpenAI's fields for limits Tierline's models have no use for: refused by name. */
const UNSUPPORTED = [
  'max_images_per_1_minute',
  'max_audio_megabytes_per_1_minute',
  'batch_1_day_max_input_tokens',
];

export interface ProjectRateLimitView {
  object: 'project.rate_limit';
  id: string;
  model: string;
  max_requests_per_1_minute: number;
  max_tokens_per_1_minute: number;
  max_requests_per_1_day: number;
}

const rateLimitId = (model: string) => `rl-${model}`;

export interface ProjectSpendLimitView {
  object: 'project.spend_limit';
  /** Cents. */
  threshold_amount: number;
  currency: 'USD';
  interval: 'month';
  enforcement: { status: 'enforcing' };
}

const spendLimitView = (limitMicroUsd: number): ProjectSpendLimitView => ({
  object: 'project.spend_limit',
  threshold_amount: Math.floor(limitMicroUsd / MICRO_USD_PER_CENT),
  currency: 'USD',
  interval: 'month',
  enforcement: { status: 'enforcing' },
});

function view(model: string, limits: ModelLimits): ProjectRateLimitView {
  return {
    object: 'project.rate_limit',
    id: rateLimitId(model),
    model,
    max_requests_per_1_minute: limits.rpm,
    max_tokens_per_1_minute: limits.tpm,
    max_requests_per_1_day: limits.rpd,
  };
}

/** The update body checked: each field a whole number from 1 to the organization's limit. */
export function parseRateLimitUpdate(
  body: Record<string, unknown>,
  organization: ModelLimits,
): ProjectModelLimits {
  const limits: ProjectModelLimits = {};
  for (const [name, value] of Object.entries(body)) {
    if (UNSUPPORTED.includes(name)) {
      throw new BadRequestError(`'${name}' does not apply to Tierline's models.`, {
        param: name,
        code: 'unsupported_parameter',
      });
    }
    if (!(name in FIELDS)) {
      throw new BadRequestError(`Unknown field '${name.slice(0, 80)}'.`, {
        param: name.slice(0, 80),
        code: 'unknown_parameter',
      });
    }
    const limit = FIELDS[name as Field];
    const most = organization[limit];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
      throw new BadRequestError(`'${name}' must be a whole number from 1 to ${most}.`, {
        param: name,
        code: 'invalid_value',
      });
    }
    if (value > most) {
      throw new BadRequestError(
        `'${name}' may only narrow the organization's limit: at most ${most}, not ${value}.`,
        { param: name, code: 'invalid_value' },
      );
    }
    limits[limit] = value;
  }
  return limits;
}

export class ProjectRateLimits {
  constructor(
    private readonly deps: {
      config: TierlineConfig;
      projects: Pick<Projects, 'get'>;
      repository: Pick<ProjectsRepository, 'changeLimits' | 'get'>;
      customers: Pick<CustomersRepository, 'getCustomer' | 'listNamedKeys' | 'setProjectLimits'>;
      spend: Pick<SpendTracker, 'getMonth' | 'setLimit'>;
    },
  ) {}

  /** The project's spend limit; 404 when it has none. */
  async spendLimit(principal: Principal, projectId: string): Promise<ProjectSpendLimitView> {
    const project = await this.deps.projects.get(principal, projectId);
    const limit = project.rateLimits?.spendLimitMicroUsd;
    if (limit === undefined) {
      throw new NotFoundError(`Project '${projectId}' has no spend limit.`, {
        code: 'spend_limit_not_found',
        param: 'project_id',
      });
    }
    return spendLimitView(limit);
  }

  /**
   * Sets (or with `undefined` removes) a project's monthly spend limit: at most the organization's,
   * written on the project, its keys, and its month's spend item, which binds the next request at
   * once whatever the authorizer cache still says (as the organization's limit does).
   */
  async setSpendLimit(
    principal: Principal,
    projectId: string,
    body: Record<string, unknown> | undefined,
  ): Promise<ProjectSpendLimitView | undefined> {
    const project = await this.deps.projects.get(principal, projectId);
    if (project.status === 'archived' && body) {
      throw new BadRequestError(`Project '${projectId}' is archived and cannot be changed.`, {
        code: 'project_archived',
        param: 'project_id',
      });
    }
    const limit = body ? await this.parseSpendLimit(principal, body) : undefined;
    const written = await this.deps.repository.changeLimits(
      async () => this.deps.projects.get(principal, projectId),
      ({ spendLimitMicroUsd: _previous, ...limits }) =>
        limit === undefined ? limits : { ...limits, spendLimitMicroUsd: limit },
    );
    await this.applyToKeys(principal.customerId, written);
    await this.deps.spend.setLimit(projectScope(principal.customerId, projectId), limit);
    return limit === undefined ? undefined : spendLimitView(limit);
  }

  private async parseSpendLimit(principal: Principal, body: Record<string, unknown>) {
    const cents = spendThresholdCents(body);
    if (!this.deps.config.tiers[principal.tier].spendLimit.allowed) {
      throw new BadRequestError(
        `Spend limits are for paying tiers: the ${principal.tier} tier spends nothing.`,
        { param: 'threshold_amount', code: 'spend_limit_not_allowed' },
      );
    }
    const limit = cents * MICRO_USD_PER_CENT;
    const organization =
      (await this.deps.spend.getMonth(principal.customerId)).limitMicroUsd ??
      effectiveSpendLimitMicroUsd(this.deps.config, principal.tier, principal.spendLimitMicroUsd);
    if (organization !== undefined && limit > organization) {
      throw new BadRequestError(
        `'threshold_amount' may be at most the organization's monthly spend limit, ` +
          `${Math.floor(organization / MICRO_USD_PER_CENT)} cents, not ${cents}.`,
        { param: 'threshold_amount', code: 'invalid_value' },
      );
    }
    return limit;
  }

  /**
   * Marks (or unmarks) the project as having spend alerts, on the project and its keys: its keys'
   * requests then hold on the project's month even without a spend limit, so the alerts fire.
   */
  async setSpendAlerts(principal: Principal, projectId: string, on: boolean): Promise<void> {
    const written = await this.deps.repository.changeLimits(
      async () => this.deps.projects.get(principal, projectId),
      ({ spendAlerts: _previous, ...limits }) => (on ? { ...limits, spendAlerts: true } : limits),
    );
    await this.applyToKeys(principal.customerId, written);
  }

  /** The organization's limits of its tier's chat models (an operator's custom plan first). */
  private organizationLimits(principal: Principal): [string, ModelLimits][] {
    const offers = this.deps.config.tiers[principal.tier].models;
    return Object.keys(offers).map((model) => [
      model,
      principal.customModelLimits?.[model] ?? (offers[model] as ModelLimits),
    ]);
  }

  async list(principal: Principal, projectId: string): Promise<ProjectRateLimitView[]> {
    const project = await this.deps.projects.get(principal, projectId);
    return this.organizationLimits(principal).map(([model, limits]) =>
      view(model, narrowLimits(limits, project.rateLimits?.models[model])),
    );
  }

  /** Narrows one model's limits of a project and puts them on every key of the project. */
  async modify(
    principal: Principal,
    projectId: string,
    id: string,
    body: Record<string, unknown>,
  ): Promise<ProjectRateLimitView> {
    const found = this.organizationLimits(principal).find(([model]) => rateLimitId(model) === id);
    const project = await this.deps.projects.get(principal, projectId);
    if (!found) {
      throw new NotFoundError(`No rate limit found with id '${id.slice(0, 80)}'.`, {
        code: 'rate_limit_not_found',
        param: 'rate_limit_id',
      });
    }
    if (project.status === 'archived') {
      throw new BadRequestError(`Project '${projectId}' is archived and cannot be changed.`, {
        code: 'project_archived',
        param: 'project_id',
      });
    }
    const [model, organization] = found;
    const asked = parseRateLimitUpdate(body, organization);
    const written = await this.deps.repository.changeLimits(
      async () => this.deps.projects.get(principal, projectId),
      // The fields not sent keep their values.
      (limits) => ({
        ...limits,
        models: { ...limits.models, [model]: { ...limits.models[model], ...asked } },
      }),
    );
    await this.applyToKeys(principal.customerId, written);
    return view(model, narrowLimits(organization, written.rateLimits?.models[model]));
  }

  /**
   * Writes the project's limits on each of its active keys (the primary key is the default
   * project's). Written after the project: a key created meanwhile reads the project after it is
   * stored ({@link applyToKey}), so no key misses the change; each write is versioned, so one
   * that lands late never undoes a later change.
   */
  async applyToKeys(customerId: string, project: ProjectRecord): Promise<void> {
    if (!project.rateLimits) return;
    const hashes: string[] = [];
    if (project.projectId === defaultProjectId(customerId)) {
      const customer = await this.deps.customers.getCustomer(customerId);
      if (customer?.keyHash) hashes.push(customer.keyHash);
    }
    for (const key of await this.deps.customers.listNamedKeys(customerId)) {
      const keyProject = projectOrDefault(customerId, key.projectId);
      if (key.status === 'active' && key.kind !== 'admin_key' && keyProject === project.projectId)
        hashes.push(key.keyHash);
    }
    for (const hash of hashes) await this.deps.customers.setProjectLimits(hash, project.rateLimits);
  }

  /** A key just stored takes its project's limits, if the project has any (one GetItem). */
  async applyToKey(customerId: string, projectId: string, keyHash: string): Promise<void> {
    const project = await this.deps.repository.get(customerId, projectId);
    if (project?.rateLimits)
      await this.deps.customers.setProjectLimits(keyHash, project.rateLimits);
  }
}
