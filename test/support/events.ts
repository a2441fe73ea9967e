import type { APIGatewayProxyEvent, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';

export const METHOD_ARN = 'arn:aws:execute-api:eu-west-1:123456789012:abc123/dev/GET/v1/me';

/** A REQUEST authorizer event as API Gateway (REST) sends it. */
export function authorizerEvent(
  headers: Record<string, string> = {},
): APIGatewayRequestAuthorizerEvent {
  return {
    type: 'REQUEST',
    methodArn: METHOD_ARN,
    resource: '/v1/{proxy+}',
    path: '/v1/me',
    httpMethod: 'GET',
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
    pathParameters: { proxy: 'me' },
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    stageVariables: null,
    requestContext: {} as APIGatewayRequestAuthorizerEvent['requestContext'],
  };
}

/** A REST (v1) proxy event for the API function, with the authorizer's context when given. */
export function proxyEvent(options: {
  method?: string;
  path: string;
  authorizer?: Record<string, string>;
  body?: string;
  requestId?: string;
}): APIGatewayProxyEvent {
  const method = options.method ?? 'GET';
  return {
    resource: '/v1/{proxy+}',
    path: options.path,
    httpMethod: method,
    headers: {
      'content-type': 'application/json',
      host: 'abc123.execute-api.eu-west-1.amazonaws.com',
    },
    multiValueHeaders: {},
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: null,
    stageVariables: null,
    body: options.body ?? null,
    isBase64Encoded: false,
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123',
      authorizer: options.authorizer ?? null,
      httpMethod: method,
      identity: { sourceIp: '198.51.100.7' } as APIGatewayProxyEvent['requestContext']['identity'],
      path: `/dev${options.path}`,
      protocol: 'HTTP/1.1',
      requestId: options.requestId ?? 'req-123',
      requestTimeEpoch: 0,
      resourceId: 'res',
      resourcePath: '/v1/{proxy+}',
      stage: 'dev',
    },
  };
}
