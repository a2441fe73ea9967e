import { ApiError, ConsoleApi, explainError, sseEvents } from '../../console/src/api-client';

const KEY = 'tl_test';

function stream(pieces: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const piece of pieces) controller.enqueue(encoder.encode(piece));
      controller.close();
    },
  });
}

function errorResponse(status: number, error: object, headers: Record<string, string> = {}) {
  return new Response(JSON.stringify({ error }), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  });
}

describe('console API client', () => {
  it('sends the key only in the Authorization header, to the same-origin /v1 paths', async () => {
    const calls: { url: string; init: RequestInit }[] = [];
    const fetchImpl = (async (url: string, init: RequestInit) => {
      calls.push({ url, init });
      return new Response(JSON.stringify({ data: [] }), { status: 200 });
    }) as unknown as typeof fetch;
    const api = new ConsoleApi(KEY, '/v1', fetchImpl);

    await api.keys();
    await api.createKey('ci');
    await api.revokeKey('key_a/b');
    await api.usage('2026-11-01', '2026-11-07');
    await api.setSpendLimit(null);

    expect(calls.map((c) => `${c.init.method ?? 'GET'} ${c.url}`)).toEqual([
      'GET /v1/keys',
      'POST /v1/keys',
      'DELETE /v1/keys/key_a%2Fb',
      'GET /v1/usage?group_by=day&start_date=2026-11-01&end_date=2026-11-07',
      'PUT /v1/spend_limit',
    ]);
    for (const call of calls) {
      expect((call.init.headers as Record<string, string>).authorization).toBe(`Bearer ${KEY}`);
      expect(call.url).not.toContain(KEY);
    }
    expect(calls[4]?.init.body).toBe('{"monthly_limit_usd":null}');
  });

  it("makes a user's first organization once and lists it from the sign-up answer, not a second read", async () => {
    const calls: string[] = [];
    const made = {
      object: 'organization',
      id: 'cus_new',
      name: "ada's organization",
      tier: 'free',
      role: 'owner',
      default_project_id: 'proj_x',
      first_key: { value: `tl_${'a'.repeat(49)}`, hint: 'tl_a...aaaa' },
      created: true,
    };
    const fetchImpl = (async (url: string, init: RequestInit) => {
      calls.push(`${init.method ?? 'GET'} ${url}`);
      const body = init.method === 'POST' ? made : { object: 'list', data: [] };
      return new Response(JSON.stringify(body), { status: 200 });
    }) as unknown as typeof fetch;

    const first = await new ConsoleApi(KEY, '/v1', fetchImpl).organizationsOrSignUp();

    expect(calls).toEqual(['GET /v1/account/organizations', 'POST /v1/account/organizations']);
    expect(first.made).toEqual(made);
    expect(first.list).toEqual([
      {
        object: 'organization',
        id: 'cus_new',
        name: "ada's organization",
        tier: 'free',
        role: 'owner',
        status: 'active',
      },
    ]);
  });

  it('makes no organization for a user who has one', async () => {
    const calls: string[] = [];
    const member = { object: 'organization', id: 'cus_a', name: 'A', tier: 'developer' };
    const listed = [{ ...member, role: 'member', status: 'active' }];
    const fetchImpl = (async (url: string, init: RequestInit) => {
      calls.push(`${init.method ?? 'GET'} ${url}`);
      return new Response(JSON.stringify({ object: 'list', data: listed }), { status: 200 });
    }) as unknown as typeof fetch;

    expect(await new ConsoleApi(KEY, '/v1', fetchImpl).organizationsOrSignUp()).toEqual({
      list: listed,
    });
    expect(calls).toEqual(['GET /v1/account/organizations']);
  });

  it.each([
    [
      401,
      { message: 'Invalid API Key', code: 'invalid_api_key' },
      {},
      'This API key is not accepted',
      /revoked/,
    ],
    [
      429,
      { message: 'Rate limit reached for model `m`', type: 'tokens', code: 'rate_limit_exceeded' },
      { 'retry-after': '7' },
      'Rate limit reached',
      /Try again in 7 s/,
    ],
    [
      429,
      { message: 'spend', code: 'insufficient_quota' },
      {},
      'Your monthly spend limit is reached',
      /Spend limit page/,
    ],
    [
      403,
      { message: 'project key', code: 'insufficient_permissions' },
      {},
      'This key cannot do this',
      /admin key \(tl_admin_…\)/,
    ],
    [
      403,
      { message: 'not on tier', code: 'model_not_available_on_tier' },
      {},
      'Not available on your plan',
      /upgrade/,
    ],
    [
      503,
      { message: 'no capacity', code: 'model_unavailable' },
      { 'retry-after': '300' },
      'The model is starting or busy',
      /Try again in 5 min\./,
    ],
    [
      500,
      { message: 'Internal error (request req-9)' },
      { 'x-request-id': 'req-9' },
      'The service had a problem',
      /req-9/,
    ],
  ])(
    'explains HTTP %i in words, with what to do',
    async (status, error, headers, title, advice) => {
      const api = new ConsoleApi(KEY, '/v1', (async () =>
        errorResponse(status, error, headers)) as unknown as typeof fetch);
      const failure = await api.me().catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(ApiError);
      expect(failure).toMatchObject({ status, title, message: error.message });
      expect((failure as ApiError).advice).toMatch(advice);
    },
  );

  it('reads batches, fine-tuning jobs and file content with the key in the header, never in the URL', async () => {
    const calls: { url: string; init: RequestInit }[] = [];
    const fetchImpl = (async (url: string, init: RequestInit) => {
      calls.push({ url, init });
      if (url.endsWith('/content')) return new Response('{"custom_id":"a"}\n', { status: 200 });
      return new Response(JSON.stringify({ object: 'list', data: [], has_more: false }), {
        status: 200,
      });
    }) as unknown as typeof fetch;
    const api = new ConsoleApi(KEY, '/v1', fetchImpl);

    await api.batches();
    await api.batches('batch_abc', 5);
    await api.cancelBatch('batch_abc');
    await api.fineTuningJobs('ftjob_1');
    await api.fineTuningEvents('ftjob_1');
    await api.models();
    const blob = await api.fileContent('file-out');

    expect(calls.map((c) => `${c.init.method ?? 'GET'} ${c.url}`)).toEqual([
      'GET /v1/batches?limit=20',
      'GET /v1/batches?limit=5&after=batch_abc',
      'POST /v1/batches/batch_abc/cancel',
      'GET /v1/fine_tuning/jobs?limit=20&after=ftjob_1',
      'GET /v1/fine_tuning/jobs/ftjob_1/events?limit=50',
      'GET /v1/models',
      'GET /v1/files/file-out/content',
    ]);
    for (const call of calls) {
      expect((call.init.headers as Record<string, string>).authorization).toBe(`Bearer ${KEY}`);
      expect(call.url).not.toContain(KEY);
    }
    expect(await blob.text()).toBe('{"custom_id":"a"}\n');
  });

  it('explains a file that cannot be downloaded, and a route this deployment does not have', async () => {
    const api = (status: number, error: object) =>
      new ConsoleApi(KEY, '/v1', (async () =>
        errorResponse(status, error)) as unknown as typeof fetch);
    const missing = await api(404, {
      message: 'No such File object: file-x',
      type: 'invalid_request_error',
      code: 'file_not_found',
    })
      .fileContent('file-x')
      .catch((e: unknown) => e);
    expect(missing).toMatchObject({ status: 404, code: 'file_not_found', title: 'File not found' });
    const route = await api(404, {
      message: 'Invalid URL (GET /v1/fine_tuning/jobs)',
      type: 'invalid_request_error',
      code: 'unknown_url',
    })
      .fineTuningJobs()
      .catch((e: unknown) => e);
    expect(route).toMatchObject({ status: 404, code: 'unknown_url' });
  });

  it('explains a network failure and a body that is not JSON', async () => {
    const offline = new ConsoleApi(KEY, '/v1', (async () => {
      throw new TypeError('fetch failed');
    }) as unknown as typeof fetch);
    await expect(offline.me()).rejects.toMatchObject({
      status: 0,
      title: 'The API cannot be reached',
    });
    const proxy = explainError(502, null, new Headers());
    expect(proxy.message).toBe('The API answered HTTP 502.');
  });

  it('parses a stream split mid-line, keeps usage, time to first token and the rate-limit headers', async () => {
    const chunk = (content: string) =>
      `data: ${JSON.stringify({ choices: [{ delta: { content } }] })}\n\n`;
    const body = [
      chunk('Hel'),
      chunk('lo'),
      `data: ${JSON.stringify({ choices: [{ delta: {}, finish_reason: 'stop' }] })}\n\n`,
      `data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 } })}\n\n`,
      'data: [DONE]\n\n',
    ].join('');
    const pieces = [body.slice(0, 17), body.slice(17, 60), body.slice(60)];
    let now = 0;
    const fetchImpl = (async () => {
      now = 100; // the first content arrives 100 ms after sending
      return new Response(stream(pieces), {
        status: 200,
        headers: {
          'x-ratelimit-remaining-tokens': '995',
          'x-ratelimit-reset-tokens': '1.5s',
          'x-request-id': 'r1',
        },
      });
    }) as unknown as typeof fetch;
    const api = new ConsoleApi(KEY, '/v1', fetchImpl, () => now);
    const seen: string[] = [];

    const reply = await api.chat({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }, (p) =>
      seen.push(p),
    );

    expect(seen).toEqual(['Hel', 'lo']);
    expect(reply).toMatchObject({
      text: 'Hello',
      ttftMs: 100,
      finishReason: 'stop',
      usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
      rateLimit: { 'x-ratelimit-remaining-tokens': '995', 'x-ratelimit-reset-tokens': '1.5s' },
      requestId: 'r1',
    });
  });

  it('raises an error sent inside the stream', async () => {
    const body = `data: ${JSON.stringify({ error: { message: 'The model failed', code: 'model_error' } })}\n\n`;
    const api = new ConsoleApi(
      KEY,
      '/v1',
      (async () => new Response(stream([body]))) as unknown as typeof fetch,
    );
    await expect(api.chat({ model: 'm', messages: [] }, () => undefined)).rejects.toMatchObject({
      title: 'The reply stopped with an error',
      message: 'The model failed',
    });
  });

  it('stops reading at [DONE] and skips comments and blank lines', async () => {
    const events = [];
    for await (const e of sseEvents(
      stream([
        ': keep-alive\n\n',
        'data: {"choices":[]}\r\n\r\n',
        'data: [DONE]\n\n',
        'data: {"x":1}\n',
      ]),
    )) {
      events.push(e);
    }
    expect(events).toEqual([{ choices: [] }]);
  });

  it('streams a Responses reply: its text deltas, its usage in chat names, an error event raised', async () => {
    const event = (e: object) => `event: x\ndata: ${JSON.stringify(e)}\n\n`;
    const calls: RequestInit[] = [];
    const answer = (pieces: string[]) =>
      (async (_url: string, init: RequestInit) => {
        calls.push(init);
        return new Response(stream(pieces), { status: 200 });
      }) as unknown as typeof fetch;
    const seen: string[] = [];
    const reply = await new ConsoleApi(
      KEY,
      '/v1',
      answer([
        event({ type: 'response.created', response: {} }),
        event({ type: 'response.output_text.delta', delta: 'Hel' }),
        event({ type: 'response.output_text.delta', delta: 'lo' }),
        event({
          type: 'response.completed',
          response: { usage: { input_tokens: 4, output_tokens: 2, total_tokens: 6 } },
        }),
      ]),
    ).respond({ model: 'm', input: [{ role: 'user', content: 'hi' }] }, (p) => seen.push(p));
    expect(seen).toEqual(['Hel', 'lo']);
    expect(reply).toMatchObject({
      text: 'Hello',
      finishReason: 'stop',
      usage: { prompt_tokens: 4, completion_tokens: 2, total_tokens: 6 },
    });
    expect(JSON.parse(calls[0]?.body as string)).toMatchObject({ stream: true, store: false });

    const failing = new ConsoleApi(
      KEY,
      '/v1',
      answer([event({ type: 'error', code: 'model_error', message: 'boom' })]),
    );
    await expect(failing.respond({ model: 'm', input: [] }, () => undefined)).rejects.toMatchObject(
      { title: 'The reply stopped with an error', message: 'boom' },
    );
  });

  it('uploads a file as multipart, with no JSON content type over its boundary', async () => {
    const calls: { url: string; init: RequestInit }[] = [];
    const api = new ConsoleApi(KEY, '/v1', (async (url: string, init: RequestInit) => {
      calls.push({ url, init });
      return new Response(JSON.stringify({ id: 'file-1' }), { status: 200 });
    }) as unknown as typeof fetch);
    await api.uploadFile(new Blob(['{}\n']), 'b.jsonl', 'batch');
    const init = calls[0]?.init as RequestInit;
    expect(calls[0]?.url).toBe('/v1/files');
    expect(init.body).toBeInstanceOf(FormData);
    expect((init.body as FormData).get('purpose')).toBe('batch');
    expect(init.headers).toEqual({ authorization: `Bearer ${KEY}` });
  });
});
