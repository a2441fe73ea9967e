import type { Context } from 'hono';
import {
  BadRequestError,
  type HttpError,
  PayloadTooLargeError,
  UploadTooLargeError,
} from '../../openai/errors';
import { MAX_MULTIPART_REQUEST_BYTES } from '../../openai/request-size';

export { MAX_MULTIPART_REQUEST_BYTES } from '../../openai/request-size';
export { UploadTooLargeError };

/** The most a JSON request body (`POST /v1/uploads`, `/complete`) may hold. */
export const MAX_JSON_REQUEST_BYTES = 1024 * 1024;

/**
 * The request body, refused with `tooLarge()` as soon as it passes `limit` bytes: by its declared
 * length, or (a chunked body declares none) while it streams in, so an oversized body is never read
 * whole.
 */
async function readBodyUpTo(
  c: Context,
  limit: number,
  tooLarge: () => HttpError,
): Promise<Uint8Array> {
  const declared = Number(c.req.header('content-length') ?? '0');
  if (declared > limit) throw tooLarge();
  const body = c.req.raw.body;
  if (!body) return new Uint8Array();
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    bytes += value.byteLength;
    if (bytes > limit) {
      await reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, bytes);
}

/** How a multipart form is read: fields that may repeat, and the 413 of a body too large. */
export interface MultipartOptions {
  /** Array fields (`timestamp_granularities[]`), which the clients send once per value. */
  repeatable?: readonly string[];
  tooLarge?: () => HttpError;
}

/** A multipart form of at most {@link MAX_MULTIPART_REQUEST_BYTES}, or a 400/413 that says what is wrong. */
export async function readMultipartForm(
  c: Context,
  what: string,
  options: MultipartOptions = {},
): Promise<FormData> {
  const contentType = c.req.header('content-type') ?? '';
  if (!contentType.toLowerCase().startsWith('multipart/form-data')) {
    throw new BadRequestError(
      'Send the file as multipart/form-data (Content-Type: multipart/form-data).',
      {
        code: 'invalid_content_type',
      },
    );
  }
  const raw = await readBodyUpTo(
    c,
    MAX_MULTIPART_REQUEST_BYTES,
    options.tooLarge ?? (() => new UploadTooLargeError(what)),
  );
  let form: FormData;
  try {
    form = await new Response(raw, { headers: { 'content-type': contentType } }).formData();
  } catch {
    throw new BadRequestError('We could not read the multipart/form-data body of your request.', {
      code: 'invalid_body',
    });
  }
  // Every field of these forms is single: two files (or two purposes) is a client mistake, not a
  // choice to guess.
  const seen = new Set<string>();
  for (const name of form.keys()) {
    if (seen.has(name) && !options.repeatable?.includes(name))
      throw new BadRequestError(`'${name}' is given more than once: send it once.`, {
        param: name,
        code: 'invalid_value',
      });
    seen.add(name);
  }
  return form;
}

/** The file field of a form as bytes with its name, or a 400 naming the field. */
export async function formFile(
  form: FormData,
  field: string,
): Promise<{ name: string; bytes: Uint8Array }> {
  const value = form.get(field);
  if (value === null || typeof value === 'string') {
    throw new BadRequestError(`Missing required parameter: '${field}' (a file).`, {
      param: field,
      code: 'missing_required_parameter',
    });
  }
  return { name: value.name, bytes: new Uint8Array(await value.arrayBuffer()) };
}

/** A JSON object body, or a 400. */
export async function readJsonObject(c: Context): Promise<Record<string, unknown>> {
  const raw = await readBodyUpTo(
    c,
    MAX_JSON_REQUEST_BYTES,
    () => new PayloadTooLargeError(MAX_JSON_REQUEST_BYTES),
  );
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder().decode(raw));
  } catch {
    throw new BadRequestError(
      'We could not parse the JSON body of your request. Send a JSON object with Content-Type: application/json.',
    );
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new BadRequestError('The request body must be a JSON object.');
  }
  return body as Record<string, unknown>;
}

/**
 * A list's `limit` query: digits only, 1 to `max`, `fallback` when absent, as OpenAI's lists page.
 * One rule for every list route.
 */
export function listLimit(raw: string | undefined, fallback = 20, max = 100): number {
  if (raw === undefined) return fallback;
  const limit = Number(raw);
  if (!/^\d+$/.test(raw) || limit < 1 || limit > max) {
    throw new BadRequestError(`'limit' must be an integer from 1 to ${max}.`, {
      param: 'limit',
      code: 'invalid_value',
    });
  }
  return limit;
}

/**
 * A page of a list held in memory (an organization's members, invites, projects and keys are few):
 * the items after `after`, up to `limit`. An `after` that names nothing of the caller's answers an
 * empty page, never another's items.
 */
export function pageOf<T>(items: T[], idOf: (item: T) => string, c: Context) {
  const limit = listLimit(c.req.query('limit'));
  const after = c.req.query('after');
  const start = after === undefined ? 0 : items.findIndex((item) => idOf(item) === after) + 1;
  const data = after !== undefined && start === 0 ? [] : items.slice(start, start + limit);
  return {
    object: 'list' as const,
    data,
    first_id: data.length > 0 ? idOf(data[0] as T) : null,
    last_id: data.length > 0 ? idOf(data[data.length - 1] as T) : null,
    has_more: start + data.length < items.length && data.length > 0,
  };
}
