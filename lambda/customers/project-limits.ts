import type { ModelLimits } from '../../lib/config/schema';

/**
 * A project's own rate limits (OpenAI's project rate limits): per model, requests per minute and
 * per day and tokens per minute, each at most what the organization's tier (or custom plan)
 * allows, so a project can only narrow them. They travel on the keys of the project, as custom
 * plans do (the authorizer already reads the key): enforcing them adds no read to a request.
 */
export interface ProjectModelLimits {
  rpm?: number;
  tpm?: number;
  rpd?: number;
}

/** A project's limits as its keys carry them, with the version of the project's last change. */
export interface ProjectLimits {
  /** Grows with every change of the project's limits: a key never takes an older set. */
  version: number;
  models: Record<string, ProjectModelLimits>;
  /** The project's monthly spend limit in micro-USD, within the organization's. */
  spendLimitMicroUsd?: number;
  /** The project has spend alerts: its month is tracked (and its alerts fired) without a limit too. */
  spendAlerts?: true;
}

/**
 * Where a project's own counters and month spend are kept in the metering table: in place of the
 * organization's id in their keys (`@` is in no organization's id), so they never meet the
 * organization's items.
 */
export const projectScope = (customerId: string, projectId: string) => `${customerId}@${projectId}`;

/**
 * What a principal carries of its project's limits (the `project*` fields of `Principal`): a
 * project key from its item, a console session from its organization's primary key (which holds the
 * default project's) or from the project it names.
 */
export function principalLimits(limits: ProjectLimits | undefined): {
  projectModelLimits?: Record<string, ProjectModelLimits>;
  projectSpendLimitMicroUsd?: number;
  projectSpendAlerts?: true;
} {
  return {
    ...(limits ? { projectModelLimits: limits.models } : {}),
    ...(limits?.spendLimitMicroUsd !== undefined
      ? { projectSpendLimitMicroUsd: limits.spendLimitMicroUsd }
      : {}),
    // The project's month is kept for its alerts, with or without a limit.
    ...(limits?.spendAlerts ? { projectSpendAlerts: true as const } : {}),
  };
}

/**
 * Whether a request (or batch) holds its project's month beside the organization's: a project with
 * a spend limit or spend alerts, on a tier that has spend limits. Chat's admission and batches
 * decide it alike.
 */
export function holdsProjectSpend(
  principal: ReturnType<typeof principalLimits>,
  spendLimitsAllowed: boolean,
): boolean {
  const kept = principal.projectSpendLimitMicroUsd !== undefined || principal.projectSpendAlerts;
  return kept === true && spendLimitsAllowed;
}

/** The organization's limits of a model narrowed by the project's, where the project set some. */
export function narrowLimits(limits: ModelLimits, project?: ProjectModelLimits): ModelLimits {
  if (!project) return limits;
  return {
    ...limits,
    rpm: Math.min(limits.rpm, project.rpm ?? limits.rpm),
    tpm: Math.min(limits.tpm, project.tpm ?? limits.tpm),
    rpd: Math.min(limits.rpd, project.rpd ?? limits.rpd),
  };
}

/** Whether the project's limits of a model are narrower than the organization's. */
export function narrowsAny(limits: ModelLimits, project?: ProjectModelLimits): boolean {
  if (!project) return false;
  const narrowed = narrowLimits(limits, project);
  return narrowed.rpm < limits.rpm || narrowed.tpm < limits.tpm || narrowed.rpd < limits.rpd;
}
