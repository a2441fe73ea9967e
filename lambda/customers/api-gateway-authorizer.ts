import { Logger } from '@aws-lambda-powertools/logger';
import type {
  APIGatewayAuthorizerResult,
  APIGatewayRequestAuthorizerEvent,
  APIGatewayRequestAuthorizerEventHeaders,
} from 'aws-lambda';
import { AuthenticationError } from '../openai/errors';
import {
  authenticate,
  authenticateSession,
  type KeyLookup,
  type KeyUseRecorder,
  type SessionAuthentication,
} from './authenticate';
import { serializePermissions } from './key-permissions';

/**
 * API Gateway REQUEST authorizer. API Gateway turns the exact error message "Unauthorized" into a
 * 401 (the UNAUTHORIZED gateway response); any other failure becomes a 500 (AUTHORIZER_FAILURE).
 * Both bodies are rewritten into the OpenAI error shape by the API's gateway responses.
 */

function headerValue(
  headers: APIGatewayRequestAuthorizerEventHeaders | null,
  name: string,
): string | undefined {
  if (!headers) return undefined;
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === wanted && value) return value;
  }
  return undefined;
}

/**
 * `arn:aws:execute-api:region:account:apiId/stage/*`: every method and path of the stage. API
 * Gateway caches the policy per key, so a policy for the one path that was called would deny the
 * customer's next path.
 */
export function stageWildcardArn(methodArn: string): string {
  const [apiArn, stage] = methodArn.split('/');
  return `${apiArn}/${stage}/*`;
}

function allowStage(methodArn: string): APIGatewayAuthorizerResult['policyDocument'] {
  return {
    Version: '2012-10-17',
    Statement: [
      { Action: 'execute-api:Invoke', Effect: 'Allow', Resource: stageWildcardArn(methodArn) },
    ],
  };
}

/**
 * `recordUse` marks the key's last use. It runs only when API Gateway calls the authorizer (a cache
 * miss, so at most once per key per cache TTL) and only when the stored time is an hour old; it is
 * not awaited. In Lambda a write still open when the handler returns finishes when the environment
 * next runs; one lost with a retired environment leaves "last used" an hour staler, never a request
 * failed.
 */
export function createAuthorizerHandler(
  lookup: KeyLookup,
  logger = new Logger({ serviceName: 'authorizer' }),
  recordUse?: KeyUseRecorder,
  sessions?: SessionAuthentication,
) {
  return async (event: APIGatewayRequestAuthorizerEvent): Promise<APIGatewayAuthorizerResult> => {
    const authorization = headerValue(event.headers, 'authorization');
    let session: Awaited<ReturnType<typeof authenticateSession>>;
    try {
      session = await authenticateSession(authorization, sessions);
    } catch (error) {
      if (error instanceof AuthenticationError) throw new Error('Unauthorized');
      // Never the token: only the failure (a JWKS that could not be fetched).
      logger.error('session verification failed', { error: String(error) });
      throw new Error('Authorizer failure');
    }
    if (session) {
      return {
        principalId: session.userId,
        usageIdentifierKey: session.usageIdentifierKey,
        policyDocument: allowStage(event.methodArn),
        context: { kind: 'session', userId: session.userId },
      };
    }
    let principal: Awaited<ReturnType<typeof authenticate>>;
    try {
      principal = await authenticate(authorization, lookup, {
        record: recordUse,
        onError: (error) => logger.warn('could not record the key use', { error }),
      });
    } catch (error) {
      if (error instanceof AuthenticationError) throw new Error('Unauthorized');
      logger.error('key lookup failed', { error });
      throw new Error('Authorizer failure');
    }
    return {
      principalId: principal.customerId,
      usageIdentifierKey: principal.usageIdentifierKey,
      policyDocument: allowStage(event.methodArn),
      context: {
        kind: principal.kind,
        customerId: principal.customerId,
        projectId: principal.projectId,
        ...(principal.keyId ? { keyId: principal.keyId } : {}),
        ...(principal.permissions
          ? { permissions: serializePermissions(principal.permissions) }
          : {}),
        tier: principal.tier,
        // Context values must be strings, numbers or booleans.
        ...(principal.customModelLimits
          ? { customModelLimits: JSON.stringify(principal.customModelLimits) }
          : {}),
        ...(principal.spendLimitMicroUsd !== undefined
          ? { spendLimitMicroUsd: principal.spendLimitMicroUsd }
          : {}),
        ...(principal.projectModelLimits
          ? { projectModelLimits: JSON.stringify(principal.projectModelLimits) }
          : {}),
        ...(principal.projectSpendLimitMicroUsd !== undefined
          ? { projectSpendLimitMicroUsd: principal.projectSpendLimitMicroUsd }
          : {}),
        ...(principal.projectSpendAlerts ? { projectSpendAlerts: true } : {}),
      },
    };
  };
}
