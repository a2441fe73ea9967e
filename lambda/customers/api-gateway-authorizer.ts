import { Logger } from '@aws-lambda-powertools/logger';
import type {
  APIGatewayAuthorizerResult,
  APIGatewayRequestAuthorizerEvent,
  APIGatewayRequestAuthorizerEventHeaders,
} from 'aws-lambda';
import { AuthenticationError } from '../openai/errors';
import { authenticate, type KeyLookup } from './authenticate';

/**
 * API Gateway REQUEST authorizer. API Gateway turns the exact error message "Unauthorized" into a 401
 * (the UNAUTHORIZED gateway response); any other failure becomes a 500 (AUTHORIZER_FAILURE). Both bodies
 * are rewritten into the OpenAI error shape by the API's gateway responses.
 */

function headerValue(headers: APIGatewayRequestAuthorizerEventHeaders | null, name: string): string | undefined {
  if (!headers) return undefined;
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === wanted && value) return value;
  }
  return undefined;
}

/**
 * `arn:aws:execute-api:region:account:apiId/stage/*`: every method and path of the stage. API Gateway caches
 * the policy per key, so a policy for the one path that was called would deny the customer's next path.
 */
export function stageWildcardArn(methodArn: string): string {
  const [apiArn, stage] = methodArn.split('/');
  return `${apiArn}/${stage}/*`;
}

export function createAuthorizerHandler(lookup: KeyLookup, logger = new Logger({ serviceName: 'authorizer' })) {
  return async (event: APIGatewayRequestAuthorizerEvent): Promise<APIGatewayAuthorizerResult> => {
    let principal: Awaited<ReturnType<typeof authenticate>>;
    try {
      principal = await authenticate(headerValue(event.headers, 'authorization'), lookup);
    } catch (error) {
      if (error instanceof AuthenticationError) throw new Error('Unauthorized');
      logger.error('key lookup failed', { error });
      throw new Error('Authorizer failure');
    }
    return {
      principalId: principal.customerId,
      usageIdentifierKey: principal.usageIdentifierKey,
      policyDocument: {
        Version: '2012-10-17',
        Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: stageWildcardArn(event.methodArn) }],
      },
      context: {
        customerId: principal.customerId,
        tier: principal.tier,
        // Context values must be strings, numbers or booleans.
        ...(principal.customModelLimits ? { customModelLimits: JSON.stringify(principal.customModelLimits) } : {}),
        ...(principal.spendLimitMicroUsd !== undefined ? { spendLimitMicroUsd: principal.spendLimitMicroUsd } : {}),
      },
    };
  };
}
