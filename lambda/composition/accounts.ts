import type { Context } from 'hono';
import type { TierlineConfig } from '../../lib/config/schema';
import { AuditLog, AuditLogRepository } from '../accounts/audit-log';
import { MembershipsRepository } from '../accounts/memberships';
import { ProjectRateLimits } from '../accounts/project-rate-limits';
import { Projects, ProjectsRepository } from '../accounts/projects';
import { createSessionPrincipals } from '../accounts/session-principal';
import { SpendAlerts } from '../accounts/spend-alerts';
import type { Principal } from '../customers/authenticate';
import type { SessionPrincipals } from '../customers/lambda-principal';
import { SpendTracker } from '../metering/spend';
import { SpendAlertRules } from '../metering/spend-alert-rules';
import type { Engines } from './engines';
import { customersRepository } from './repositories';

/**
 * The principal from the authorizer's context, console sessions included: the authorizer verified
 * the session's token; its organization is chosen here (lambda/accounts/session-principal.ts),
 * reused for the authorizer cache's TTL so a suspended organization stops within the same bound.
 */
export function sessionAwarePrincipals(
  engines: Pick<Engines, 'doc' | 'tables'>,
  config: TierlineConfig,
  fromAuthorizer: (c: Context, sessions: SessionPrincipals) => Promise<Principal>,
): (c: Context) => Promise<Principal> {
  const sessions = createSessionPrincipals({
    memberships: new MembershipsRepository(engines.doc, engines.tables.customers),
    customers: customersRepository(engines),
    cacheTtlMs: config.environment.authorizerCacheTtlSeconds * 1000,
  });
  return (c) => fromAuthorizer(c, sessions);
}

/**
 * Projects and the audit log (OpenAI's administration API), in the customers table: no new table,
 * no new IAM action (docs/decisions.md, "Projects and admin keys").
 */
export function accountServices(
  engines: Pick<Engines, 'doc' | 'tables' | 'now' | 'alerts'>,
  config: TierlineConfig,
) {
  const now = () => engines.now?.() ?? new Date();
  const auditLog = new AuditLogRepository(engines.doc, engines.tables.customers);
  const repository = new ProjectsRepository(engines.doc, engines.tables.customers);
  const customers = customersRepository(engines);
  const projects = new Projects(repository, customers, now);
  const rateLimits = new ProjectRateLimits({
    config,
    projects,
    repository,
    customers,
    spend: new SpendTracker(engines.doc, engines.tables.metering, engines.alerts),
  });
  return {
    projects,
    rateLimits,
    spendAlerts: new SpendAlerts({
      rules: new SpendAlertRules(engines.doc, engines.tables.metering, undefined, now),
      projects,
      tracking: rateLimits,
    }),
    audit: new AuditLog(auditLog, now),
    auditLog,
  };
}

export type AccountServices = ReturnType<typeof accountServices>;
