import * as fc from 'fast-check';
import { isAdministrativePath } from '../../lambda/accounts/authorization';
import { defaultProjectId } from '../../lambda/customers/key-permissions';
import { TestModelBackend } from '../../lambda/inference/backends/test-model-backend';
import { loadConfig } from '../../lib/config/load';
import { type LocalMode, startLocalMode } from '../../local/local-mode';
import { apiSpecs, checkBody } from '../support/spec-check';

/**
 * Thousands of generated requests against every route of local mode: wrong types, deep nesting,
 * huge arrays and strings, prototype keys, NUL, invalid UTF-8, extreme numbers, odd methods and
 * paths. The invariants: never a 5xx, every error in OpenAI's shape, every success valid against
 * the published schemas. Bounded by a run count and a time limit, so it stays well under a minute
 * in CI.
 */

const MODEL = 'qwen3-8b';
const RUNS = 2_000;
const TIME_LIMIT_MS = 35_000;

/** Every operation of Tierline's own document, `{model}` filled in, under both prefixes. */
function operations(): { method: string; path: string }[] {
  return Object.entries(apiSpecs().tierline.document.paths).flatMap(([template, methods]) => {
    const path = template.replace('{model}', MODEL);
    const paths = path.startsWith('/v1/') ? [path, `/openai${path}`] : [path];
    return Object.keys(methods).flatMap((method) =>
      paths.map((p) => ({ method: method.toUpperCase(), path: p })),
    );
  });
}

const extremeNumber = fc.constantFrom(
  0,
  -0,
  1,
  -1,
  1.5,
  5e-324,
  1e308,
  -1e308,
  Number.MAX_SAFE_INTEGER + 2,
  2 ** 53,
  4294967296,
);
const PROTOTYPE_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'valueOf',
];
const weirdString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(
    ...PROTOTYPE_KEYS,
    '',
    '\u0000',
    'a\u0000b',
    '\ud800',
    '\udfff\ud800',
    MODEL,
    'developer',
  ),
  fc
    .oneof(
      { weight: 9, arbitrary: fc.integer({ min: 1, max: 5_000 }) },
      { weight: 1, arbitrary: fc.integer({ min: 5_000, max: 1_000_000 }) },
    )
    .map((n) => 'x'.repeat(n)),
);
/** Any JSON value, biased towards what breaks parsers and validators. */
const weirdValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    weirdString,
    extremeNumber,
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.integer({ min: 0, max: 20_000 }).map((n) => Array.from({ length: n }, () => 'a')),
    fc.dictionary(fc.oneof(weirdString, fc.constantFrom(...PROTOTYPE_KEYS)), tie('value'), {
      maxKeys: 4,
    }),
  ),
})).value;

const messageLike = fc.oneof(
  fc.record({
    role: fc.constantFrom('system', 'developer', 'user', 'assistant', 'tool'),
    content: fc.string(),
  }),
  fc.dictionary(
    fc.constantFrom('role', 'content', 'name', 'tool_calls', 'tool_call_id', '__proto__'),
    weirdValue,
  ),
  weirdValue,
);

/** A valid chat request with some fields replaced, removed or added. */
const chatBody = fc
  .record({
    model: fc.oneof(fc.constant(MODEL), weirdString),
    messages: fc.oneof(fc.array(messageLike, { maxLength: 4 }), weirdValue),
    extra: fc.dictionary(
      fc.constantFrom(
        'temperature',
        'top_p',
        'seed',
        'n',
        'stream',
        'stream_options',
        'max_tokens',
        'max_completion_tokens',
        'stop',
        'tools',
        'tool_choice',
        'response_format',
        'logprobs',
        'top_logprobs',
        'logit_bias',
        'user',
        ...PROTOTYPE_KEYS,
        'frobnicate',
      ),
      weirdValue,
      { maxKeys: 3 },
    ),
  })
  .map(({ model, messages, extra }) => JSON.stringify({ model, messages, ...extra }));

const deepText = fc
  .tuple(fc.constantFrom('[', '{"a":'), fc.integer({ min: 10, max: 20_000 }))
  .map(([open, depth]) => {
    const close = open === '[' ? ']' : '}';
    const inner = `${open.repeat(depth)}1${close.repeat(depth)}`.replace('[1', '[1');
    return `{"model":"${MODEL}","messages":[{"role":"user","content":"x"}],"tools":${inner}}`;
  });

const body: fc.Arbitrary<Uint8Array | string | undefined> = fc.oneof(
  chatBody,
  weirdValue.map((v) => JSON.stringify(v) ?? 'null'),
  fc.record({ monthly_limit_usd: weirdValue }).map((v) => JSON.stringify(v)),
  deepText,
  chatBody.map((text) => text.slice(0, Math.floor(text.length / 2))),
  fc.uint8Array({ maxLength: 200 }),
  // Invalid UTF-8 inside an otherwise valid body.
  fc.constant(
    Buffer.concat([
      Buffer.from(`{"model":"${MODEL}","messages":[{"role":"user","content":"`),
      Buffer.from([0xff, 0xfe, 0xc3]),
      Buffer.from('"}]}'),
    ]),
  ),
  fc.constant(undefined),
);

const anyMethod = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS');
/** Mostly the documented operations (so bodies reach validation), sometimes any method on any path. */
const target = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...operations()) },
  {
    weight: 1,
    arbitrary: fc.record({
      method: anyMethod,
      path: fc.constantFrom('/v1/nothing', '/', '/v1/models'),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      method: anyMethod,
      path: fc.string({ maxLength: 30 }).map((s) => `/v1/models/${encodeURIComponent(s)}`),
    }),
  },
);

const request = fc.record({
  target,
  query: fc.option(
    fc.record(
      { start_date: weirdString, end_date: weirdString, group_by: weirdString },
      { requiredKeys: [] },
    ),
  ),
  body,
  contentType: fc.constantFrom(
    'application/json',
    'application/json',
    'text/plain',
    'application/x-www-form-urlencoded',
    '',
  ),
  authorized: fc.oneof(
    { weight: 9, arbitrary: fc.constant(true) },
    { weight: 1, arbitrary: fc.constant(false) },
  ),
});

describe('fuzzing every route (fast-check)', () => {
  let local: LocalMode;
  let key: string;
  let adminKey: string;
  let projectId: string;

  beforeAll(async () => {
    // Edge limits and model limits far above what the run sends, so requests reach validation, not
    // a 429.
    const roomy = { rpm: 1_000_000, rpd: 100_000_000, tpm: 1_000_000_000, tpd: 1_000_000_000 };
    const enterpriseModels = Object.fromEntries(
      Object.keys(loadConfig({ env: 'dev' }).tiers.enterprise.models).map((id) => [id, roomy]),
    );
    local = await startLocalMode({
      // The API only: `/` would be the web console's page.
      console: false,
      config: loadConfig({
        env: 'dev',
        overrides: {
          tiers: {
            enterprise: {
              edge: { rateLimit: 100_000, burstLimit: 100_000 },
              models: enterpriseModels,
            },
          },
        },
      }),
      port: 0,
      backend: new TestModelBackend({ replyTokens: 2 }),
    });
    const enterprise = local.demoCustomers.find((d) => d.tier === 'enterprise');
    key = enterprise?.apiKey ?? '';
    adminKey = (await local.operator.createAdminKey(enterprise?.customerId ?? '', 'fuzz')).key;
    projectId = defaultProjectId(enterprise?.customerId ?? '');
  });
  /** Administrative routes get the customer's admin key, the others its inference key. */
  const keyFor = (path: string) => (isAdministrativePath(path) ? adminKey : key);
  afterAll(() => local.stop());

  it('never answers 5xx; every error has the OpenAI shape; every success matches the schemas', async () => {
    const seen = new Map<number, number>();

    // A counterexample can be megabytes long (huge strings): report its start only.
    await assertShortly(
      fc.asyncProperty(request, async ({ target: { method, path }, ...r }) => {
        // The customer's own default project and primary key, so those routes check their input
        // rather than answer 404 for an id that names nothing.
        const filled = path.replace('{project_id}', projectId).replace('{key_id}', 'key_primary');
        const url = new URL(`${local.url}${filled}`);
        for (const [name, value] of Object.entries(r.query ?? {}))
          url.searchParams.set(name, value);
        const hasBody = r.body !== undefined && method !== 'GET';
        const response = await fetch(url, {
          method,
          headers: {
            ...(r.authorized ? { authorization: `Bearer ${keyFor(url.pathname)}` } : {}),
            ...(r.contentType && hasBody ? { 'content-type': r.contentType } : {}),
          },
          body: hasBody ? r.body : undefined,
        });
        const text = await response.text();
        seen.set(response.status, (seen.get(response.status) ?? 0) + 1);
        const mediaType = (response.headers.get('content-type') ?? '').split(';')[0] ?? '';
        const requestBody = typeof r.body === 'string' ? safeJson(r.body) : undefined;
        const problems = checkBody(
          { method, path: url.pathname, status: response.status, mediaType, requestBody },
          text,
        );

        expect(response.status).toBeLessThan(500);
        expect(problems).toEqual([]);
      }),
      {
        numRuns: RUNS,
        interruptAfterTimeLimit: TIME_LIMIT_MS,
        markInterruptAsFailure: false,
        seed: 9,
      },
    );

    // Guards against a run that only ever met the front door.
    const total = [...seen.values()].reduce((a, b) => a + b, 0);
    console.log(`fuzz: ${total} requests, by status ${JSON.stringify(Object.fromEntries(seen))}`);
    expect(total).toBeGreaterThan(500);
    expect(seen.get(400) ?? 0).toBeGreaterThan(total / 5);
    expect(seen.get(200) ?? 0).toBeGreaterThan(total / 20);
  }, 60_000);
});

async function assertShortly(...args: Parameters<typeof fc.assert>): Promise<void> {
  try {
    await fc.assert(...args);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(
      message.length > 4000 ? `${message.slice(0, 2000)}\n...\n${message.slice(-2000)}` : message,
    );
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
