import { invites, projects, sumUsage, usageByProjectAndKey } from '../../console/src/admin-api';
import { ApiError, ConsoleApi } from '../../console/src/api-client';

/**
 * The console's administration-API calls (paths, bodies, the project header of a project key) and
 * its client's handling of a short gateway throttle, with `fetch` injected.
 */
type Call = { url: string; init: RequestInit };

function recording(answers: Response[] = []) {
  const calls: Call[] = [];
  const fetchImpl = (async (url: string, init: RequestInit) => {
    calls.push({ url, init });
    return (
      answers.shift() ??
      new Response(JSON.stringify({ object: 'list', data: [], has_more: false, last_id: null }), {
        status: 200,
      })
    );
  }) as unknown as typeof fetch;
  return { calls, api: new ConsoleApi('tl_test', '/v1', fetchImpl) };
}

const throttled = (retryAfter: string) =>
  new Response(
    JSON.stringify({ error: { message: 'Too many requests', code: 'rate_limit_exceeded' } }),
    { status: 429, headers: { 'retry-after': retryAfter } },
  );

describe('console administration API calls', () => {
  it('creates a project key in the project the OpenAI-Project header names, with its permissions', async () => {
    const { calls, api } = recording([new Response('{"id":"key_1","key":"tl_x","name":"n"}')]);
    await projects.createKey(api, 'proj_1', 'n', { chat: 'write', files: 'none' });
    expect(calls[0]?.url).toBe('/v1/keys');
    expect(calls[0]?.init.method).toBe('POST');
    expect(JSON.parse(String(calls[0]?.init.body))).toEqual({
      name: 'n',
      permissions: { chat: 'write', files: 'none' },
    });
    expect(calls[0]?.init.headers).toMatchObject({
      authorization: 'Bearer tl_test',
      'openai-project': 'proj_1',
      'content-type': 'application/json',
    });
  });

  it('encodes ids in paths and sends the invitation token in the body', async () => {
    const { calls, api } = recording([
      new Response('{}'),
      new Response('{"organization_id":"cus_1"}'),
    ]);
    await projects.revokeKey(api, 'proj_1', 'key/../x');
    await invites.accept(api, 'tok en');
    expect(calls.map((c) => c.url)).toEqual([
      '/v1/organization/projects/proj_1/api_keys/key%2F..%2Fx',
      '/v1/organization/invites/accept',
    ]);
    expect(JSON.parse(String(calls[1]?.init.body))).toEqual({ token: 'tok en' });
  });

  it('asks for the last 31 days of completions per project and key, from a day boundary', async () => {
    const { calls, api } = recording([
      new Response(JSON.stringify({ object: 'page', data: [], has_more: false, next_page: null })),
    ]);
    const now = Date.UTC(2026, 11, 7, 16, 30);
    await usageByProjectAndKey(api, now);
    const url = new URL(calls[0]?.url ?? '', 'http://x');
    expect(url.pathname).toBe('/v1/organization/usage/completions');
    expect(Number(url.searchParams.get('start_time'))).toBe(Date.UTC(2026, 10, 7) / 1000);
    expect(url.searchParams.getAll('group_by')).toEqual(['project_id', 'api_key_id']);
    expect(url.searchParams.get('limit')).toBe('31');
  });

  it('sums usage over the days per project and key', () => {
    const result = (project: string, key: string, requests: number, input: number) => ({
      object: 'organization.usage.completions.result' as const,
      input_tokens: input,
      output_tokens: 2 * requests,
      input_cached_tokens: 0,
      input_audio_tokens: 0,
      output_audio_tokens: 0,
      num_model_requests: requests,
      project_id: project,
      user_id: null,
      api_key_id: key,
      model: null,
      batch: null,
      service_tier: null,
    });
    const bucket = (results: ReturnType<typeof result>[]) => ({
      object: 'bucket' as const,
      start_time: 0,
      end_time: 86_400,
      results,
    });
    const rows = sumUsage({
      object: 'page',
      has_more: false,
      next_page: null,
      data: [
        bucket([result('proj_a', 'key_1', 2, 10), result('proj_b', 'key_2', 1, 5)]),
        bucket([result('proj_a', 'key_1', 3, 7)]),
      ],
    });
    expect(rows).toEqual([
      { projectId: 'proj_a', apiKeyId: 'key_1', requests: 5, inputTokens: 17, outputTokens: 10 },
      { projectId: 'proj_b', apiKeyId: 'key_2', requests: 1, inputTokens: 5, outputTokens: 2 },
    ]);
  });
});

describe('a short gateway throttle', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('is waited out and the request sent again (a 429 did nothing, so a write too)', async () => {
    const { calls, api } = recording([throttled('1'), throttled('1'), new Response('{"id":"p"}')]);
    const made = projects.create(api, 'Mobile');
    await jest.advanceTimersByTimeAsync(2_000);
    await expect(made).resolves.toEqual({ id: 'p' });
    expect(calls).toHaveLength(3);
    expect(calls.every((c) => c.init.body === '{"name":"Mobile"}')).toBe(true);
  });

  it('gives up after three retries, and never waits out a long one', async () => {
    const short = recording([throttled('1'), throttled('1'), throttled('1'), throttled('1')]);
    const gaveUp = projects.list(short.api).catch((e: unknown) => e);
    await jest.advanceTimersByTimeAsync(3_000);
    expect(await gaveUp).toBeInstanceOf(ApiError);
    expect(short.calls).toHaveLength(4);

    const long = recording([throttled('30')]);
    const failure = await projects.list(long.api).catch((e: unknown) => e);
    expect(failure).toMatchObject({ status: 429 });
    expect(long.calls).toHaveLength(1);
  });
});
