import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { matchedRoutes } from 'hono/route';
import { PayloadTooLargeError, UploadTooLargeError } from '../openai/errors';
import {
  isBinaryMediaType,
  MAX_MULTIPART_REQUEST_BYTES,
  MAX_REQUEST_BYTES,
} from '../openai/request-size';

/** What reaches the function in AWS (`openai/request-size.ts`); local mode enforces the same on every route. */
export { MAX_REQUEST_BYTES };

/**
 * 413 in the OpenAI shape as soon as a body passes {@link MAX_REQUEST_BYTES}: a declared
 * `content-length` is refused before any byte is read, and a chunked body is counted as it arrives
 * and refused at the limit, so a 100 MB body never sits in memory. A multipart body that declares
 * more than {@link MAX_MULTIPART_REQUEST_BYTES} is refused as AWS WAF refuses it in front of the
 * stage (`lib/constructs/api/request-size-guard.ts`), with the same body; one sent chunked is left
 * to its route, which counts it.
 */
export function requestSizeLimit(): MiddlewareHandler {
  const limit = bodyLimit({
    maxSize: MAX_REQUEST_BYTES,
    onError: (c) => c.json(new PayloadTooLargeError(MAX_REQUEST_BYTES).toBody(), 413),
  });
  return (c, next) => {
    const declared = c.req.header('content-length');
    if (
      declared !== undefined &&
      Number(declared) > MAX_MULTIPART_REQUEST_BYTES &&
      isBinaryMediaType(c.req.header('content-type'))
    ) {
      return Promise.resolve(c.json(new UploadTooLargeError('The request body').toBody(), 413));
    }
    return limit(c, async () => {
      await next();
      // A body under the limit that no route read (unknown URL, 401 before the route): read it
      // before the answer goes out, so a client still uploading gets the answer instead of a
      // connection cut mid-upload.
      const raw = c.req.raw;
      if (raw.body && !raw.bodyUsed) await raw.arrayBuffer().catch(() => undefined);
    });
  };
}

/** Response headers a browser app may read: the rate limits, the request id, when to retry. */
export const EXPOSED_HEADERS = [
  'x-request-id',
  'retry-after',
  'x-ratelimit-limit-requests',
  'x-ratelimit-limit-tokens',
  'x-ratelimit-remaining-requests',
  'x-ratelimit-remaining-tokens',
  'x-ratelimit-reset-requests',
  'x-ratelimit-reset-tokens',
];

/**
 * CORS for browser apps and the console: preflights are answered before any key is asked for, and
 * the origins come from the config (`environment.corsAllowedOrigins`; `*` allows any). Keys travel
 * in the `Authorization` header, never in cookies, so no credentials are allowed and a page cannot
 * use a key it does not already hold.
 */
export function corsForOrigins(allowedOrigins: readonly string[]): MiddlewareHandler {
  const any = allowedOrigins.includes('*');
  return cors({
    origin: (origin) => (any ? '*' : allowedOrigins.includes(origin) ? origin : null),
    allowMethods: ['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS'],
    exposeHeaders: EXPOSED_HEADERS,
    maxAge: 600,
  });
}

/**
 * True when a route of the app (not only middleware) matches the request. An unknown URL then
 * answers 404 `unknown_url` with or without a key, as API Gateway does for a path it has no
 * resource for.
 */
export function matchesARoute(c: Context): boolean {
  return matchedRoutes(c).some((route) => route.method !== 'ALL');
}
