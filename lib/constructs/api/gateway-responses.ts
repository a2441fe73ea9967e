import { ResponseType, type RestApi } from 'aws-cdk-lib/aws-apigateway';
import { PayloadTooLargeError } from '../../../lambda/openai/errors';
import { GATEWAY_MESSAGES } from '../../../lambda/openai/gateway-messages';
import { MAX_REQUEST_BYTES } from '../../../lambda/openai/request-size';

/**
 * API Gateway answers some requests itself (bad key, throttled, unknown route...). These rewrite
 * every such answer into OpenAI's error shape, so the official clients raise their usual typed
 * errors.
 */
export interface OpenAIGatewayResponse {
  readonly id: string;
  readonly type: ResponseType;
  /** Absent on the DEFAULT_* types: setting one there would overwrite the status of every unlisted type. */
  readonly statusCode?: string;
  readonly errorType: string;
  readonly code: string | null;
  /** A JSON string literal, or `$context.error.messageString` (which API Gateway quotes itself). */
  readonly message: string;
  readonly headers?: Record<string, string>;
}

const literal = (text: string) => JSON.stringify(text);
const gatewayMessage = '$context.error.messageString';

export const OPENAI_GATEWAY_RESPONSES: readonly OpenAIGatewayResponse[] = [
  {
    id: 'Unauthorized',
    type: ResponseType.UNAUTHORIZED,
    statusCode: '401',
    errorType: 'invalid_request_error',
    code: 'invalid_api_key',
    message: literal(GATEWAY_MESSAGES.invalidApiKey),
  },
  {
    // The authorizer allowed a key whose usage identifier is on no usage plan (e.g. revoked moments
    // ago).
    id: 'InvalidApiKey',
    type: ResponseType.INVALID_API_KEY,
    statusCode: '401',
    errorType: 'invalid_request_error',
    code: 'invalid_api_key',
    message: literal(GATEWAY_MESSAGES.invalidApiKey),
  },
  {
    id: 'AccessDenied',
    type: ResponseType.ACCESS_DENIED,
    statusCode: '403',
    errorType: 'permission_error',
    code: 'permission_denied',
    message: literal('You do not have access to this resource.'),
  },
  {
    id: 'Throttled',
    type: ResponseType.THROTTLED,
    statusCode: '429',
    errorType: 'requests',
    code: 'rate_limit_exceeded',
    message: literal(GATEWAY_MESSAGES.throttled),
    headers: { 'retry-after': '1' },
  },
  {
    id: 'QuotaExceeded',
    type: ResponseType.QUOTA_EXCEEDED,
    statusCode: '429',
    errorType: 'requests',
    code: 'rate_limit_exceeded',
    message: literal(GATEWAY_MESSAGES.quotaExceeded),
    // The quota lasts until its period ends: the official clients must not retry it right away.
    headers: { 'x-should-retry': 'false' },
  },
  {
    id: 'BadRequestBody',
    type: ResponseType.BAD_REQUEST_BODY,
    statusCode: '400',
    errorType: 'invalid_request_error',
    code: null,
    message: gatewayMessage,
  },
  {
    id: 'BadRequestParameters',
    type: ResponseType.BAD_REQUEST_PARAMETERS,
    statusCode: '400',
    errorType: 'invalid_request_error',
    code: null,
    message: gatewayMessage,
  },
  {
    id: 'RequestTooLarge',
    type: ResponseType.REQUEST_TOO_LARGE,
    statusCode: '413',
    errorType: 'invalid_request_error',
    code: 'request_too_large',
    // API Gateway's own 413, above its 10 MB: the same words as the function's and WAF's 413.
    message: literal(new PayloadTooLargeError(MAX_REQUEST_BYTES).message),
  },
  {
    id: 'UnsupportedMediaType',
    type: ResponseType.UNSUPPORTED_MEDIA_TYPE,
    statusCode: '415',
    errorType: 'invalid_request_error',
    code: 'unsupported_media_type',
    message: literal(
      'Unsupported Content-Type: send application/json (or multipart/form-data for file uploads).',
    ),
  },
  {
    // API Gateway answers an unmatched route with 403 "Missing Authentication Token"; clients
    // expect 404.
    id: 'UnknownRoute',
    type: ResponseType.MISSING_AUTHENTICATION_TOKEN,
    statusCode: '404',
    errorType: 'invalid_request_error',
    code: 'unknown_url',
    message: literal(
      'Invalid URL: no route matches. The API is served under /v1 (openai) and /openai/v1 (groq-sdk).',
    ),
  },
  {
    id: 'ResourceNotFound',
    type: ResponseType.RESOURCE_NOT_FOUND,
    statusCode: '404',
    errorType: 'invalid_request_error',
    code: 'unknown_url',
    message: gatewayMessage,
  },
  {
    id: 'AuthorizerFailure',
    type: ResponseType.AUTHORIZER_FAILURE,
    statusCode: '500',
    errorType: 'server_error',
    code: 'authentication_unavailable',
    message: literal('Authentication is temporarily unavailable. Please retry.'),
  },
  {
    id: 'AuthorizerConfigurationError',
    type: ResponseType.AUTHORIZER_CONFIGURATION_ERROR,
    statusCode: '500',
    errorType: 'server_error',
    code: 'authentication_unavailable',
    message: literal('Authentication is temporarily unavailable. Please retry.'),
  },
  {
    id: 'IntegrationTimeout',
    type: ResponseType.INTEGRATION_TIMEOUT,
    statusCode: '504',
    errorType: 'server_error',
    code: 'timeout',
    message: literal('The request timed out. Please retry.'),
  },
  {
    id: 'Default4xx',
    type: ResponseType.DEFAULT_4XX,
    errorType: 'invalid_request_error',
    code: null,
    message: gatewayMessage,
  },
  {
    id: 'Default5xx',
    type: ResponseType.DEFAULT_5XX,
    errorType: 'server_error',
    code: null,
    message: literal('The server had an error while processing your request. Please retry.'),
  },
];

export function openAIErrorTemplate(response: OpenAIGatewayResponse): string {
  const code = response.code === null ? 'null' : literal(response.code);
  return `{"error":{"message":${response.message},"type":${literal(response.errorType)},"param":null,"code":${code}}}`;
}

/**
 * Adds every OpenAI-shaped gateway response to `api`; `allowOrigin` (a quoted literal or a request
 * header mapping) lets browser apps read them.
 */
export function addOpenAIGatewayResponses(api: RestApi, allowOrigin?: string): void {
  for (const response of OPENAI_GATEWAY_RESPONSES) {
    api.addGatewayResponse(response.id, {
      type: response.type,
      statusCode: response.statusCode,
      responseHeaders: {
        'content-type': "'application/json'",
        ...(allowOrigin ? { 'access-control-allow-origin': allowOrigin } : {}),
        ...Object.fromEntries(
          Object.entries(response.headers ?? {}).map(([name, value]) => [name, `'${value}'`]),
        ),
      },
      templates: { 'application/json': openAIErrorTemplate(response) },
    });
  }
}
