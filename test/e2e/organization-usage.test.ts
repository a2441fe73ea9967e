import OpenAI, { toFile } from 'openai';
import { TestModelBackend } from '../../lambda/inference/backends/test-model-backend';
import { loadConfig } from '../../lib/config/load';
import { type LocalMode, startLocalMode } from '../../local/local-mode';
import { wavFile } from '../support/audio-files';
import { localClients } from '../support/local-clients';
import { expectSpecCompliance, specCheckedFetch } from '../support/spec-check';
import { clearOfMinuteBoundary } from '../support/windows';

/**
 * OpenAI's usage and costs of the administration API over real HTTP, with the official `openai`
 * client's `admin.organization.usage` calls against local mode: requests made with keys of two
 * projects, then read back per project, key and model, every answer validated against OpenAI's
 * `UsageResponse` and Tierline's /openapi.json.
 */
const MODEL = 'qwen3-8b';
const SPEECH = 'whisper-large-v3-turbo';
const config = loadConfig({ env: 'dev' });
/** Each chat answer of the test model: 4 tokens. */
const REPLY_TOKENS = 4;

type UsagePage = Awaited<ReturnType<OpenAI['admin']['organization']['usage']['completions']>>;
type UsageResult = UsagePage['data'][number]['results'][number];
/** A page's results of one kind (the client types every result as any kind). */
const resultsOf = <K extends UsageResult['object']>(page: UsagePage, kind: K) =>
  page.data
    .flatMap((bucket) => bucket.results)
    .map((result) => {
      if (result.object !== kind) throw new Error(`a ${result.object} among ${kind}`);
      return result as Extract<UsageResult, { object: K }>;
    });

describe('usage and costs through client.admin.organization.usage', () => {
  const spec = specCheckedFetch();
  afterEach(() => expectSpecCompliance(spec));
  let local: LocalMode;
  const chat = (openai: OpenAI) =>
    openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] });
  /** Where every test's records start: before the organization's first request. */
  let start: number;
  let admin: OpenAI;
  let mobile: { id: string; key: OpenAI; keyId: string };
  let defaultProject: string;
  let primary: OpenAI;
  let other: OpenAI;

  beforeAll(async () => {
    local = await startLocalMode({
      config,
      port: 0,
      backend: new TestModelBackend({ replyTokens: REPLY_TOKENS, tokensPerSecond: 1_000 }),
      authorizerCacheTtlMs: 0,
      console: false,
    });
    start = Math.floor(Date.now() / 1000) - 1;
    const clients = localClients(local, spec.fetch);
    const org = await clients.newOrganization('usage-org', 'usage.test');
    admin = org.admin;
    primary = org.primary;
    other = (await clients.newOrganization('usage-other', 'usage.test')).admin;
    const organization = admin.admin.organization;
    defaultProject = (await organization.projects.list()).data[0]?.id as string;
    const project = await organization.projects.create({ name: 'Mobile' });
    const made: { id: string; key: string } = await admin.post('/keys', {
      body: { name: 'mobile', permissions: 'all' },
      headers: { 'OpenAI-Project': project.id },
    });
    mobile = { id: project.id, key: clients.admin(made.key), keyId: made.id };
    // Two requests in the project, one with the primary key (the default project). All four
    // records in one UTC hour and day (both end on a minute's end): one bucket holds each
    // project's, in the hour and day buckets the tests read.
    await clearOfMinuteBoundary(15_000);
    await chat(mobile.key);
    await chat(mobile.key);
    await chat(primary);
    const file = await toFile(wavFile({ seconds: 12.5 }), 'speech.wav');
    await mobile.key.audio.transcriptions.create({ file, model: SPEECH });
  }, 60_000);
  afterAll(() => local.stop());

  it('answers completions per project and key, in hour buckets', async () => {
    const page = await admin.admin.organization.usage.completions({
      start_time: start,
      bucket_width: '1h',
      group_by: ['project_id', 'api_key_id'],
    });
    expect(page).toMatchObject({ object: 'page', has_more: false, next_page: null });
    const results = resultsOf(page, 'organization.usage.completions.result');
    const byProject = Object.fromEntries(
      results.map((r) => [r.project_id, [r.api_key_id, r.num_model_requests, r.output_tokens]]),
    );
    expect(byProject).toEqual({
      [mobile.id]: [mobile.keyId, 2, 2 * REPLY_TOKENS],
      [defaultProject]: ['key_primary', 1, REPLY_TOKENS],
    });
  });

  it('filters by project and model, and pages through buckets', async () => {
    const usage = admin.admin.organization.usage;
    const filtered = await usage.completions({
      start_time: start,
      project_ids: [mobile.id],
      models: [MODEL],
      group_by: ['model'],
    });
    expect(filtered.data.flatMap((b) => b.results)).toEqual([
      expect.objectContaining({ model: MODEL, num_model_requests: 2, project_id: null }),
    ]);
    // Another organization's answer never holds these records, whatever it asks for.
    const foreign = await other.admin.organization.usage.completions({
      start_time: start,
      project_ids: [mobile.id],
    });
    expect(foreign.data.flatMap((b) => b.results)).toEqual([]);
    // Minute buckets, one per page: the records' minute is in one of the pages.
    const first = await usage.completions({
      start_time: start - 120,
      end_time: start + 240,
      bucket_width: '1m',
      limit: 2,
    });
    expect(first.data).toHaveLength(2);
    expect(first.has_more).toBe(true);
    const second = await usage.completions({
      start_time: start - 120,
      end_time: start + 240,
      bucket_width: '1m',
      limit: 2,
      page: first.next_page as string,
    });
    expect(second.data[0]?.start_time).toBe(first.data[1]?.end_time);
  });

  it('answers seconds of audio transcribed, and costs per project and line item', async () => {
    const usage = admin.admin.organization.usage;
    const audio = await usage.audioTranscriptions({ start_time: start, group_by: ['project_id'] });
    expect(audio.data.flatMap((b) => b.results)).toEqual([
      expect.objectContaining({ project_id: mobile.id, seconds: 13, num_model_requests: 1 }),
    ]);
    const costs = await usage.costs({ start_time: start, group_by: ['project_id', 'line_item'] });
    const lines = resultsOf(costs, 'organization.costs.result');
    expect(lines.map((r) => [r.project_id, r.line_item]).sort()).toEqual(
      [
        [defaultProject, MODEL],
        [mobile.id, MODEL],
        [mobile.id, SPEECH],
      ].sort(),
    );
    for (const line of lines) expect(line.amount?.value).toBeGreaterThan(0);
    expect(lines.every((r) => r.amount?.currency === 'usd')).toBe(true);
  });

  it('refuses a project key with 403, and every bad parameter with a 400 naming it', async () => {
    await expect(
      mobile.key.admin.organization.usage.completions({ start_time: start }),
    ).rejects.toBeInstanceOf(OpenAI.PermissionDeniedError);
    const refused = async (query: Record<string, unknown>, param: string) => {
      const error = await admin.get('/organization/usage/completions', { query }).then(
        () => undefined,
        (e: unknown) => e as InstanceType<typeof OpenAI.APIError>,
      );
      expect(error).toBeInstanceOf(OpenAI.BadRequestError);
      expect(error).toMatchObject({ status: 400, param });
    };
    await refused({}, 'start_time');
    await refused({ start_time: 'yesterday' }, 'start_time');
    await refused({ start_time: start, end_time: start }, 'end_time');
    await refused({ start_time: start, bucket_width: '1w' }, 'bucket_width');
    await refused({ start_time: start, limit: 32 }, 'limit');
    await refused({ start_time: start, page: 'page_1' }, 'page');
    await refused({ start_time: start, group_by: ['line_item'] }, 'group_by');
    await refused({ start_time: start, batch: 'maybe' }, 'batch');
    const costs = await admin
      .get('/organization/costs', { query: { start_time: start, bucket_width: '1h' } })
      .then(
        () => undefined,
        (e: unknown) => e as InstanceType<typeof OpenAI.APIError>,
      );
    expect(costs).toMatchObject({ status: 400, param: 'bucket_width' });
  });
});
