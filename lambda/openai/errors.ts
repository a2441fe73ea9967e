/**
 * The one error taxonomy of the API. Every error a client sees has OpenAI's shape
 * `{"error":{"message","type","param","code"}}` and an honest HTTP status.
 */

export type OpenAIErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'rate_limit_error'
  /** Groq and OpenAI name the limit that was hit in `type` on 429s. */
  | 'requests'
  | 'tokens'
  | 'insufficient_quota'
  | 'server_error'
  | 'service_unavailable';

export interface OpenAIErrorBody {
  error: {
    message: string;
    type: OpenAIErrorType;
    param: string | null;
    code: string | null;
  };
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly type: OpenAIErrorType,
    message: string,
    readonly code: string | null = null,
    readonly param: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = new.target.name;
  }

  toBody(): OpenAIErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export class BadRequestError extends HttpError {
  constructor(message: string, param: string | null = null, code: string | null = null) {
    super(400, 'invalid_request_error', message, code, param);
  }
}

export class AuthenticationError extends HttpError {
  constructor(message = 'Invalid API Key') {
    super(401, 'invalid_request_error', message, 'invalid_api_key');
  }
}

export class PermissionDeniedError extends HttpError {
  constructor(message: string, code: string | null = 'permission_denied') {
    super(403, 'permission_error', message, code);
  }
}

export class NotFoundError extends HttpError {
  constructor(message: string, code: string | null = 'not_found', param: string | null = null) {
    super(404, 'invalid_request_error', message, code, param);
  }
}

export class InternalServerError extends HttpError {
  constructor(requestId: string) {
    super(
      500,
      'server_error',
      `The server had an error while processing your request. Quote request id ${requestId} if you contact support.`,
      'internal_error',
    );
  }
}

export class PayloadTooLargeError extends HttpError {
  constructor(limitBytes: number) {
    super(
      413,
      'invalid_request_error',
      `Request body too large: at most ${Math.floor(limitBytes / (1024 * 1024))} MB per request.`,
      'request_too_large',
    );
  }
}

/** The model cannot serve right now (scaled to zero, scaling out, overloaded). */
export class ServiceUnavailableError extends HttpError {
  constructor(message: string, retryAfterSeconds: number) {
    super(503, 'service_unavailable', message, 'model_unavailable', null, {
      'retry-after': String(retryAfterSeconds),
    });
  }
}

/**
 * The model server failed or answered what is not a completion (an upstream that ignores `stream: true`):
 * the request was fine and the gateway is up, the hop behind it failed. The official clients retry a 502.
 */
export class BadGatewayError extends HttpError {
  constructor(requestId: string) {
    super(
      502,
      'server_error',
      `The model failed while answering your request. Please retry; quote request id ${requestId} if it persists.`,
      'model_error',
    );
  }
}

export class GatewayTimeoutError extends HttpError {
  constructor(message: string) {
    super(504, 'server_error', message, 'timeout');
  }
}
