import type { APIGatewayProxyEvent, Context as LambdaContext } from 'aws-lambda';
import type { Context } from 'hono';
import { AuthenticationError } from '../openai/errors';
import { keyGrants, type Principal, type SessionIdentity } from './authenticate';
import { isTierName } from './plans';

export interface LambdaBindings {
  event: APIGatewayProxyEvent;
  lambdaContext: LambdaContext;
}

/** Picks the organization a verified console session acts for (lambda/accounts). */
export type SessionPrincipals = (
  session: SessionIdentity,
  organization: string | undefined,
) => Promise<Principal>;

/**
 * Reads the principal that the REQUEST authorizer put into the request context. API Gateway only
 * calls the function after the authorizer allowed the request, so a missing context means a
 * misconfigured route. A console session's context names only its user: `sessions` resolves the
 * organization from the `OpenAI-Organization` header (without it, sessions are refused).
 */
export function principalFromAuthorizer(
  c: Context,
  sessions?: SessionPrincipals,
): Promise<Principal> {
  const event = (c.env as LambdaBindings | undefined)?.event;
  const context = event?.requestContext?.authorizer;
  if (context?.kind === 'session') {
    const userId = context.userId;
    if (!sessions || typeof userId !== 'string') return Promise.reject(new AuthenticationError());
    return sessions(
      { kind: 'session', userId, usageIdentifierKey: event?.requestContext.identity?.apiKey ?? '' },
      c.req.header('openai-organization'),
    );
  }
  const customerId = context?.customerId;
  const tier = context?.tier;
  if (typeof customerId !== 'string' || typeof tier !== 'string' || !isTierName(tier)) {
    return Promise.reject(new AuthenticationError());
  }
  const custom = context?.customModelLimits;
  const projectLimits = context?.projectModelLimits;
  // API Gateway hands context numbers to the function as strings.
  const spendLimit = Number(context?.spendLimitMicroUsd);
  const projectSpendLimit = Number(context?.projectSpendLimitMicroUsd);
  return Promise.resolve({
    // Contexts cached before kinds existed name no kind: they came from project keys.
    ...keyGrants({
      customerId,
      kind: context?.kind === 'admin_key' ? 'admin_key' : 'project_key',
      projectId: typeof context?.projectId === 'string' ? context.projectId : undefined,
      permissions: context?.permissions,
    }),
    ...(typeof context?.keyId === 'string' ? { keyId: context.keyId } : {}),
    customerId,
    tier,
    usageIdentifierKey: event?.requestContext.identity?.apiKey ?? '',
    ...(typeof custom === 'string' ? { customModelLimits: JSON.parse(custom) } : {}),
    ...(typeof projectLimits === 'string' ? { projectModelLimits: JSON.parse(projectLimits) } : {}),
    ...(context?.spendLimitMicroUsd !== undefined && Number.isFinite(spendLimit)
      ? { spendLimitMicroUsd: spendLimit }
      : {}),
    ...(context?.projectSpendLimitMicroUsd !== undefined && Number.isFinite(projectSpendLimit)
      ? { projectSpendLimitMicroUsd: projectSpendLimit }
      : {}),
    // A boolean arrives as the string 'true'.
    ...(String(context?.projectSpendAlerts) === 'true'
      ? { projectSpendAlerts: true as const }
      : {}),
  });
}

/** The verified console session the authorizer let through, or undefined for a key's request. */
export function sessionFromAuthorizer(c: Context): SessionIdentity | undefined {
  const event = (c.env as LambdaBindings | undefined)?.event;
  const context = event?.requestContext?.authorizer;
  if (context?.kind !== 'session' || typeof context.userId !== 'string') return undefined;
  return {
    kind: 'session',
    userId: context.userId,
    usageIdentifierKey: event?.requestContext.identity?.apiKey ?? '',
  };
}

export function requestIdFromEvent(c: Context): string | undefined {
  return (c.env as LambdaBindings | undefined)?.event?.requestContext?.requestId;
}
