import * as z from 'zod/mini';
import type { Principal } from '../customers/authenticate';
import { projectScope } from '../customers/project-limits';
import {
  MAX_ALERTS_PER_SCOPE,
  MAX_RECIPIENTS,
  type SpendAlertRule,
  type SpendAlertRules,
} from '../metering/spend-alert-rules';
import { BadRequestError, NotFoundError } from '../openai/errors';
import { bodySchema, field, nestedSchema } from '../openai/request-body';
import type { ProjectRateLimits } from './project-rate-limits';
import type { Projects } from './projects';

/** Highest threshold accepted, in cents (a guard against typos: $10,000,000, the spend limit's). */
const MAX_THRESHOLD_CENTS = 1_000_000_000;
/** An address as SES takes one: local part, `@`, a domain with a dot; no spaces or angle brackets. */
const EMAIL = /^[^\s@<>,;"]{1,64}@[^\s@<>,;"]+\.[^\s@<>,;"]+$/;

const channelSchema = nestedSchema('notification_channel', {
  type: field(z.literal('email'), "'notification_channel.type' must be 'email'.", 'invalid_value'),
  recipients: field(
    z
      .array(z.string().check(z.maxLength(254), z.regex(EMAIL)))
      .check(z.minLength(1), z.maxLength(MAX_RECIPIENTS)),
    `'notification_channel.recipients' must list 1 to ${MAX_RECIPIENTS} e-mail addresses.`,
    'invalid_value',
  ),
  subject_prefix: field(
    // No control characters: a line break would end the e-mail's Subject header.
    z.optional(z.nullable(z.string().check(z.maxLength(100), z.regex(/^\P{Cc}*$/u)))),
    "'notification_channel.subject_prefix' must be at most 100 characters without control " +
      'characters, or null.',
    'invalid_value',
  ),
});

/** OpenAI's `CreateSpendAlertBody`, for creating and for updating an alert. */
const alertBody = bodySchema(
  {
    threshold_amount: field(
      z.int().check(z.minimum(0), z.maximum(MAX_THRESHOLD_CENTS)),
      `'threshold_amount' must be a whole number of cents from 0 to ${MAX_THRESHOLD_CENTS}.`,
      'invalid_value',
    ),
    currency: field(z.literal('USD'), "'currency' must be 'USD'.", 'invalid_value'),
    interval: field(z.literal('month'), "'interval' must be 'month'.", 'invalid_value'),
  },
  { unknownKeyLength: 80, checkedElsewhere: ['notification_channel'] },
);

function parseAlert(body: Record<string, unknown>): Omit<SpendAlertRule, 'id'> {
  const checked = alertBody.check(body);
  const channel = channelSchema.check(checked.notification_channel);
  if (!channel) {
    throw new BadRequestError(
      "'notification_channel' is required: { type: 'email', recipients: [...] }.",
      { param: 'notification_channel', code: 'missing_required_parameter' },
    );
  }
  return {
    thresholdAmount: checked.threshold_amount,
    recipients: [...new Set(channel.recipients)],
    subjectPrefix: channel.subject_prefix ?? null,
  };
}

export interface SpendAlertView {
  id: string;
  object: 'organization.spend_alert' | 'project.spend_alert';
  threshold_amount: number;
  currency: 'USD';
  interval: 'month';
  notification_channel: { type: 'email'; recipients: string[]; subject_prefix: string | null };
}

function view(rule: SpendAlertRule, object: SpendAlertView['object']): SpendAlertView {
  return {
    id: rule.id,
    object,
    threshold_amount: rule.thresholdAmount,
    currency: 'USD',
    interval: 'month',
    notification_channel: {
      type: 'email',
      recipients: rule.recipients,
      subject_prefix: rule.subjectPrefix,
    },
  };
}

const notFound = (id: string) =>
  new NotFoundError(`No spend alert found with id '${id.slice(0, 80)}'.`, {
    code: 'spend_alert_not_found',
    param: 'alert_id',
  });

const tooMany = () =>
  new BadRequestError(
    `At most ${MAX_ALERTS_PER_SCOPE} spend alerts: delete one before adding another.`,
    { code: 'spend_alert_limit_reached', param: 'threshold_amount' },
  );

/**
 * Spend alerts of OpenAI's administration API: the organization's, and a project's (the project
 * must be the caller's organization's: another's id answers 404). Stored and fired by
 * lambda/metering/spend-alert-rules.ts.
 */
export class SpendAlerts {
  constructor(
    private readonly deps: {
      rules: Pick<SpendAlertRules, 'list' | 'get' | 'change'>;
      projects: Pick<Projects, 'get'>;
      /** Marks a project with alerts on its keys, so its month is tracked without a limit too. */
      tracking?: Pick<ProjectRateLimits, 'setSpendAlerts'>;
    },
  ) {}

  async list(principal: Principal, projectId?: string): Promise<SpendAlertView[]> {
    const { scope, object } = await this.scopeOf(principal, projectId);
    return (await this.deps.rules.list(scope)).map((rule) => view(rule, object));
  }

  async create(
    principal: Principal,
    body: Record<string, unknown>,
    projectId?: string,
  ): Promise<SpendAlertView> {
    const rule = parseAlert(body);
    const { scope, object } = await this.scopeOf(principal, projectId, true);
    const created = await this.deps.rules.change(scope, { kind: 'create', rule });
    if (!created) throw tooMany();
    // After the alert is stored: a retry after a crash here marks the project then.
    if (projectId !== undefined)
      await this.deps.tracking?.setSpendAlerts(principal, projectId, true);
    return view(created, object);
  }

  async get(principal: Principal, id: string, projectId?: string): Promise<SpendAlertView> {
    const { scope, object } = await this.scopeOf(principal, projectId);
    const rule = await this.deps.rules.get(scope, id);
    if (!rule) throw notFound(id);
    return view(rule, object);
  }

  async update(
    principal: Principal,
    id: string,
    body: Record<string, unknown>,
    projectId?: string,
  ): Promise<SpendAlertView> {
    const rule = parseAlert(body);
    const { scope, object } = await this.scopeOf(principal, projectId, true);
    const changed = await this.deps.rules.change(scope, { kind: 'update', id, rule });
    if (!changed) throw notFound(id);
    // Marks a project whose create crashed before marking it (idempotent).
    if (projectId !== undefined)
      await this.deps.tracking?.setSpendAlerts(principal, projectId, true);
    return view(changed, object);
  }

  /** Deletes an alert (of an archived project too: it only stops mail). */
  async delete(principal: Principal, id: string, projectId?: string): Promise<void> {
    const { scope } = await this.scopeOf(principal, projectId);
    const deleted = await this.deps.rules.change(scope, { kind: 'delete', id });
    if (!deleted) throw notFound(id);
    if (projectId === undefined || !this.deps.tracking) return;
    const hasAlerts = async () => (await this.deps.rules.list(scope)).length > 0;
    if (await hasAlerts()) return;
    await this.deps.tracking.setSpendAlerts(principal, projectId, false);
    // An alert created meanwhile may have marked the project before the unmark landed: look again.
    if (await hasAlerts()) await this.deps.tracking.setSpendAlerts(principal, projectId, true);
  }

  private async scopeOf(principal: Principal, projectId: string | undefined, writing = false) {
    if (projectId === undefined)
      return { scope: principal.customerId, object: 'organization.spend_alert' as const };
    const project = await this.deps.projects.get(principal, projectId);
    if (writing && project.status === 'archived') {
      throw new BadRequestError(`Project '${projectId}' is archived and cannot be changed.`, {
        code: 'project_archived',
        param: 'project_id',
      });
    }
    return {
      scope: projectScope(principal.customerId, project.projectId),
      object: 'project.spend_alert' as const,
    };
  }
}
