/**
 * The one error taxonomy of the API. Every error a client sees has OpenAI's shape
 * `{"error":{"message","type","param","code"}}` and an honest HTTP status.
 */

import { describeBytes, MAX_MULTIPART_REQUEST_BYTES } from './request-size';
import type { ErrorResponse } from './shapes/errors';

export type OpenAIErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'rate_limit_error'
  /** Groq and OpenAI name the limit that was hit in `type` on 429s. */
  | 'requests'
  | 'tokens'
  /** A speech-to-text model's audio seconds per hour or day (ASH, ASD). */
  | 'audio_seconds'
  | 'insufficient_quota'
  | 'server_error'
  | 'service_unavailable';

/** The body of `shapes/errors.ts`, with `type` narrowed to the taxonomy's own values. */
export interface OpenAIErrorBody extends ErrorResponse {
  error: ErrorResponse['error'] & { type: OpenAIErrorType };
}

/**
 * What an error says besides its message, the same options object for every class: `param` names
 * the request parameter at fault (OpenAI's `param`), `code` is the machine-readable reason,
 * `headers` go on the response (`retry-after`, the `x-ratelimit-*` of a refusal).
 */
export interface ErrorDetails {
  param?: string | null;
  code?: string | null;
  headers?: Record<string, string>;
}

export class HttpError extends Error {
  readonly code: string | null;
  readonly param: string | null;
  readonly headers: Record<string, string>;

  constructor(
    readonly status: number,
    readonly type: OpenAIErrorType,
    message: string,
    details: ErrorDetails = {},
  ) {
    super(message);
    this.name = new.target.name;
    this.code = details.code ?? null;
    this.param = details.param ?? null;
    this.headers = details.headers ?? {};
  }

  toBody(): OpenAIErrorBody {
    return {
      error: { message: this.message, type: this.type, param: this.param, code: this.code },
    };
  }
}

export class BadRequestError extends HttpError {
  constructor(message: string, details: ErrorDetails = {}) {
    super(400, 'invalid_request_error', message, details);
  }
}

export class AuthenticationError extends HttpError {
  constructor(message = 'Invalid API Key', code = 'invalid_api_key') {
    super(401, 'invalid_request_error', message, { code });
  }
}

export class PermissionDeniedError extends HttpError {
  /** `code` defaults to `permission_denied`; `{ code: null }` sends none. */
  constructor(message: string, details: ErrorDetails = {}) {
    super(403, 'permission_error', message, {
      ...details,
      code: details.code === undefined ? 'permission_denied' : details.code,
    });
  }
}

export class NotFoundError extends HttpError {
  /** `code` defaults to `not_found`; `{ code: null }` sends none. */
  constructor(message: string, details: ErrorDetails = {}) {
    super(404, 'invalid_request_error', message, {
      ...details,
      code: details.code === undefined ? 'not_found' : details.code,
    });
  }
}

export class InternalServerError extends HttpError {
  constructor(requestId: string) {
    super(
      500,
      'server_error',
      `The server had an error while processing your request. Quote request id ${requestId} if you contact support.`,
      { code: 'internal_error' },
    );
  }
}

export class PayloadTooLargeError extends HttpError {
  constructor(limitBytes: number) {
    super(
      413,
      'invalid_request_error',
      `Request body too large: at most ${describeBytes(limitBytes)} per request.`,
      { code: 'request_too_large' },
    );
  }
}

/** 413 for an upload request above {@link MAX_MULTIPART_REQUEST_BYTES}, saying which path to take instead. */
export class UploadTooLargeError extends HttpError {
  constructor(what: string) {
    super(
      413,
      'invalid_request_error',
      `${what} is too large: at most ${describeBytes(MAX_MULTIPART_REQUEST_BYTES)} per request. ` +
        'Upload larger files with the Uploads API (POST /v1/uploads, then parts of at most 4 MiB each).',
      { code: 'request_too_large' },
    );
  }
}

/** The model cannot serve right now (scaled to zero, scaling out, overloaded). */
export class ServiceUnavailableError extends HttpError {
  constructor(message: string, retryAfterSeconds: number) {
    super(503, 'service_unavailable', message, {
      code: 'model_unavailable',
      headers: {
        'retry-after': String(retryAfterSeconds),
      },
    });
  }
}

/**
 * The model server failed or answered what is not a completion (an upstream that ignores `stream:
 * true`): the request was fine and the gateway is up, the hop behind it failed. The official
 * clients retry a 502.
 */
export class BadGatewayError extends HttpError {
  constructor(requestId: string) {
    super(
      502,
      'server_error',
      `The model failed while answering your request. Please retry; quote request id ${requestId} if it persists.`,
      { code: 'model_error' },
    );
  }
}

export class GatewayTimeoutError extends HttpError {
  constructor(message: string) {
    super(504, 'server_error', message, { code: 'timeout' });
  }
}
