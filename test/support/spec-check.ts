import { tierlineOpenApiDocument } from '../../lambda/http/openapi/document';
import { loadConfig } from '../../lib/config/load';
import { ApiSpec } from './api-spec';

/**
 * Every answer an end-to-end test gets, checked against the published schemas: OpenAI's (for the
 * routes it defines) and Tierline's own `/openapi.json` (for every route). Give `spec.fetch` to the
 * official clients (`new OpenAI({ fetch: spec.fetch })`) and use it for raw requests; `await
 * spec.problems()` (or {@link expectSpecCompliance} in an `afterEach`) says what did not match.
 *
 * Checked: every error body (any route, any status) has OpenAI's error shape; a 2xx body matches
 * its route's response schema in both documents; each `data:` event of a stream matches the chunk
 * schema (or the error shape), the stream ends with `[DONE]`, and with
 * `stream_options.include_usage` every chunk but the last has `"usage": null` and the last has the
 * usage (the spec's wording).
 */

let shared: { openai: ApiSpec; tierline: ApiSpec } | undefined;

/** Both documents, loaded once per test file. */
export function apiSpecs(): { openai: ApiSpec; tierline: ApiSpec } {
  shared ??= {
    openai: ApiSpec.openai(),
    tierline: new ApiSpec('tierline', tierlineOpenApiDocument(loadConfig({ env: 'dev' })) as never),
  };
  return shared;
}

export interface SpecCheck {
  fetch: typeof fetch;
  /** How many responses were checked (a guard against a check that silently sees nothing). */
  readonly checked: number;
  /** Waits for the checks of streams still being read, then returns (and forgets) what did not match. */
  problems(): Promise<string[]>;
}

interface Exchange {
  method: string;
  path: string;
  status: number;
  mediaType: string;
  requestBody: unknown;
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

export function checkBody(exchange: Exchange, text: string): string[] {
  const { openai, tierline } = apiSpecs();
  const where = `${exchange.method} ${exchange.path} -> ${exchange.status}`;
  const parsed = parseJson(text);
  if (exchange.status >= 400) {
    if (!parsed.ok) return [`${where}: error body is not JSON: ${text.slice(0, 200)}`];
    return openai
      .validate(openai.schemaPointer('ErrorResponse'), parsed.value)
      .map((p) => `${where}: not OpenAI's error shape: ${p}`);
  }
  if (exchange.status === 204 || exchange.method === 'HEAD') return [];
  const problems: string[] = [];
  const own = tierline.operation(exchange.method, exchange.path);
  if (!own) problems.push(`${where}: route missing from Tierline's /openapi.json`);
  for (const [spec, operation] of [
    [openai, openai.operation(exchange.method, exchange.path)],
    [tierline, own],
  ] as const) {
    if (!operation) continue;
    const pointer = spec.responsePointer(operation, exchange.status, exchange.mediaType);
    const isJson =
      exchange.mediaType === 'application/json' || exchange.mediaType === 'text/event-stream';
    // A file's bytes (JSONL): OpenAI's file lists it as application/json, Tierline's as what it
    // sends.
    if (!isJson && spec.name === 'openai') continue;
    if (pointer && !isJson) continue;
    if (!pointer && spec.name === 'openai' && spec.documentsNoBody(operation, exchange.status))
      continue;
    if (!pointer) {
      problems.push(
        `${where}: ${spec.name} documents no ${exchange.mediaType} answer with this status`,
      );
      continue;
    }
    if (exchange.mediaType === 'text/event-stream') {
      problems.push(
        ...checkStream(spec, pointer, exchange, text).map((p) => `${where} (${spec.name}): ${p}`),
      );
    } else if (!parsed.ok) {
      problems.push(`${where}: body is not JSON`);
    } else {
      problems.push(
        ...spec.validate(pointer, parsed.value).map((p) => `${where} (${spec.name}): ${p}`),
      );
    }
  }
  return problems;
}

/** The `event:` and `data:` of each server-sent event block. */
function sseBlocks(text: string): { event?: string; data: string }[] {
  return text
    .split(/\r?\n\r?\n/)
    .map((block) => {
      const lines = block.split(/\r?\n/);
      const event = lines
        .find((line) => line.startsWith('event:'))
        ?.slice(6)
        .trim();
      const data = lines
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).trimStart())
        .join('\n');
      return { event, data };
    })
    .filter((block) => block.data !== '');
}

const RESPONSE_ENDINGS = new Set(['response.completed', 'response.incomplete', 'response.failed']);

/**
 * A Responses stream (OpenAI's wording): each event named by `event:` as its `type`, valid against
 * the event schema, `sequence_number`s 0, 1, 2...; `response.created` then `response.in_progress`
 * first; it ends with `response.completed`, `response.incomplete` or `response.failed` (after an
 * `error` event), and no `[DONE]`.
 */
function checkResponseStream(spec: ApiSpec, pointer: string, text: string): string[] {
  const problems: string[] = [];
  const types: string[] = [];
  sseBlocks(text).forEach(({ event, data }, index) => {
    const parsed = parseJson(data);
    if (!parsed.ok) {
      problems.push(`event ${index} is not JSON: ${data.slice(0, 200)}`);
      return;
    }
    const value = parsed.value as { type?: string; sequence_number?: number };
    types.push(String(value.type));
    if (event !== value.type)
      problems.push(`event ${index}: event: ${event} but type ${value.type}`);
    if (value.sequence_number !== index)
      problems.push(`event ${index}: sequence_number ${value.sequence_number}`);
    problems.push(
      ...spec.validate(pointer, value).map((p) => `event ${index} (${value.type}): ${p}`),
    );
  });
  if (types[0] !== 'response.created' || types[1] !== 'response.in_progress')
    problems.push(`the stream starts ${types.slice(0, 2).join(', ')}`);
  if (!RESPONSE_ENDINGS.has(types.at(-1) ?? '')) problems.push(`the stream ends ${types.at(-1)}`);
  return problems;
}

function checkStream(spec: ApiSpec, pointer: string, exchange: Exchange, text: string): string[] {
  if (/\/responses$/.test(exchange.path)) return checkResponseStream(spec, pointer, text);
  const problems: string[] = [];
  const events = text
    .split(/\r?\n\r?\n/)
    .map((block) =>
      block
        .split(/\r?\n/)
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).trimStart())
        .join('\n'),
    )
    .filter((data) => data !== '');
  const done = events.at(-1) === '[DONE]';
  const chunks: Record<string, unknown>[] = [];
  let failed = false;
  for (const data of events.filter((d) => d !== '[DONE]')) {
    const parsed = parseJson(data);
    if (!parsed.ok) {
      problems.push(`event is not JSON: ${data.slice(0, 200)}`);
      continue;
    }
    const value = parsed.value as Record<string, unknown>;
    if (value && typeof value === 'object' && 'error' in value) {
      failed = true;
      problems.push(
        ...spec
          .validate(spec.schemaPointer('ErrorResponse'), value)
          .map((p) => `error event: ${p}`),
      );
      continue;
    }
    chunks.push(value);
    problems.push(...spec.validate(pointer, value).map((p) => `chunk ${chunks.length - 1}: ${p}`));
  }
  if (!done && !failed) problems.push('the stream did not end with data: [DONE]');
  const request = exchange.requestBody as
    | { stream_options?: { include_usage?: boolean } }
    | undefined;
  // The usage rule is OpenAI's wording; checked once, on OpenAI's pass.
  if (
    spec.name === 'openai' &&
    request?.stream_options?.include_usage === true &&
    !failed &&
    done
  ) {
    chunks.slice(0, -1).forEach((chunk, index) => {
      if (chunk.usage !== null)
        problems.push(`chunk ${index} of ${chunks.length}: usage must be null, not absent`);
    });
    const last = chunks.at(-1);
    if (!last?.usage || typeof last.usage !== 'object')
      problems.push('the last chunk carries no usage');
  }
  return problems;
}

function requestBodyOf(init: RequestInit | undefined): unknown {
  if (typeof init?.body !== 'string') return undefined;
  const parsed = parseJson(init.body);
  return parsed.ok ? parsed.value : undefined;
}

/** A `fetch` that checks every answer it passes on (see the module comment). */
export function specCheckedFetch(base: typeof fetch = fetch): SpecCheck {
  const pending: Promise<void>[] = [];
  const problems: string[] = [];
  let checked = 0;
  const checkedFetch: typeof fetch = async (input, init) => {
    const response = await base(input, init);
    const request = input instanceof Request ? input : undefined;
    const url = new URL(request?.url ?? String(input));
    // Not Tierline's answer: a client's feature probe (`data:,`), or storage a redirect led to
    // (S3).
    if (!url.protocol.startsWith('http') || response.redirected) return response;
    const exchange: Exchange = {
      method: (init?.method ?? request?.method ?? 'GET').toUpperCase(),
      path: url.pathname,
      status: response.status,
      mediaType: (response.headers.get('content-type') ?? '').split(';')[0]?.trim() ?? '',
      requestBody: requestBodyOf(init),
    };
    // A clone, so the caller reads the body as usual (a stream too) while the check reads its own
    // copy.
    const copy = response.clone();
    pending.push(
      copy
        .text()
        .then((text) => {
          checked += 1;
          problems.push(...checkBody(exchange, text));
        })
        .catch(() => {
          // The caller cancelled the stream (a disconnect test): what was cut cannot be checked
          // whole.
          checked += 1;
        }),
    );
    return response;
  };
  return {
    fetch: checkedFetch,
    get checked() {
      return checked;
    },
    async problems() {
      await Promise.all(pending.splice(0));
      return problems.splice(0);
    },
  };
}

/** For an `afterEach`: fails the test that got an answer off the schemas, listing each mismatch. */
export async function expectSpecCompliance(spec: SpecCheck): Promise<void> {
  expect(await spec.problems()).toEqual([]);
}

/** Throws, listing every mismatch, unless `value` conforms to OpenAI's `components.schemas[schemaName]`. */
export function expectMatchesSpec(schemaName: string, value: unknown): void {
  const { openai } = apiSpecs();
  const problems = openai.validate(openai.schemaPointer(schemaName), value);
  if (problems.length > 0) {
    throw new Error(
      `Response does not match OpenAI's ${schemaName}:\n  ${problems.join('\n  ')}\n${JSON.stringify(value)}`,
    );
  }
}
