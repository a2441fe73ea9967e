/**
 * How large a request the buffered API function can receive, the one place its numbers come from:
 * the app's own 413s (`http/request-guards.ts`, `http/routes/request-bodies.ts`) and the WAF rule in
 * front of the stage (`lib/constructs/api/request-size-guard.ts`) both derive from these.
 */

const MIB = 1024 * 1024;

/**
 * Lambda takes at most 6 MB (6,291,456 bytes) of event per synchronous invocation, and API
 * Gateway's proxy event carries the body beside the headers (twice: `headers` and
 * `multiValueHeaders`) and the request context. Above it Lambda refuses the invoke and the function
 * never runs; API Gateway itself accepts up to 10 MB.
 */
export const LAMBDA_SYNC_EVENT_BYTES = 6 * MIB;

/**
 * What the event holds besides the body: REST API headers are at most 10 KB, written twice, plus
 * the request context and JSON escaping of both.
 */
export const EVENT_ENVELOPE_BYTES = 64 * 1024;

/**
 * How much longer a text body gets as a JSON string inside the event: each `"` and `\` is written
 * twice. Measured on chat bodies (`docs/operating.md`): +1.3% for prose, +2.6% for TypeScript source,
 * +16.7% for JSON pasted into a message. A body of nothing but quotes would double; no length check
 * can tell that from its `Content-Length`.
 */
export const BODY_ESCAPING_ALLOWANCE = 0.17;

const wholeMiB = (bytes: number) => Math.floor(bytes / MIB) * MIB;

/**
 * The largest body (JSON or any text type) the function takes: 5 MiB (5,242,880 bytes), whole MiB
 * below what fits in the event once escaped.
 */
export const MAX_REQUEST_BYTES = wholeMiB(
  (LAMBDA_SYNC_EVENT_BYTES - EVENT_ENVELOPE_BYTES) / (1 + BODY_ESCAPING_ALLOWANCE),
);

/**
 * Content types API Gateway treats as binary (the REST API's `binaryMediaTypes`): it passes such a
 * body base64-encoded, so its bytes reach the function unchanged but take 4/3 of the room.
 */
export const BINARY_MEDIA_TYPES = ['multipart/form-data'] as const;

/** Raw bytes whose base64 encoding fits in `eventBytes` (4 characters per 3 bytes). */
export const base64Capacity = (eventBytes: number) => Math.floor(eventBytes / 4) * 3;

/**
 * The largest multipart body that reaches the function, in whole MiB: 4 MiB (5.6 MB once
 * base64-encoded; base64 has nothing to escape). Also the largest part of an upload
 * (`POST /v1/uploads/{id}/parts`).
 */
export const MAX_MULTIPART_REQUEST_BYTES = wholeMiB(
  base64Capacity(LAMBDA_SYNC_EVENT_BYTES - EVENT_ENVELOPE_BYTES),
);

/** True when API Gateway passes a body of this `Content-Type` base64-encoded. */
export function isBinaryMediaType(contentType: string | undefined): boolean {
  const mediaType = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  return BINARY_MEDIA_TYPES.some((binary) => binary === mediaType);
}

/** `limit` bytes as people read it: `5.94 MiB (6,225,920 bytes)`. */
export function describeBytes(limit: number): string {
  const mib = limit / MIB;
  const rounded = Number.isInteger(mib) ? String(mib) : mib.toFixed(2);
  return `${rounded} MiB (${limit.toLocaleString('en-US')} bytes)`;
}
