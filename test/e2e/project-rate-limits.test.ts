import OpenAI from 'openai';
import { TestModelBackend } from '../../lambda/inference/backends/test-model-backend';
import { loadConfig } from '../../lib/config/load';
import { type LocalMode, startLocalMode } from '../../local/local-mode';
import { type LocalClients, localClients } from '../support/local-clients';
import { expectSpecCompliance, specCheckedFetch } from '../support/spec-check';
import { clearOfMinuteBoundary } from '../support/windows';

/**
 * A project's own rate limits over real HTTP with the official `openai` client's
 * `admin.organization.projects.rateLimits` calls against local mode: listed, narrowed, refused
 * past the organization's, and enforced on the project's keys only.
 */
const MODEL = 'qwen3-8b';
const config = loadConfig({ env: 'dev' });
const developerRpm = (config.tiers.developer.models[MODEL] as { rpm: number }).rpm;

describe('project rate limits through client.admin.organization.projects.rateLimits', () => {
  const spec = specCheckedFetch();
  afterEach(() => expectSpecCompliance(spec));
  let local: LocalMode;
  let clients: LocalClients;
  const chat = (openai: OpenAI) =>
    openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] });
  const newOrganization = async (name: string) => {
    const { admin, primary } = await clients.newOrganization(name, 'limits.test');
    const project = await admin.admin.organization.projects.create({ name: 'Batch jobs' });
    return { admin, primary, project: project.id };
  };
  const keyOf = (admin: OpenAI, project: string) => clients.projectKey(admin, project);

  beforeAll(async () => {
    local = await startLocalMode({
      config,
      port: 0,
      backend: new TestModelBackend({ replyTokens: 4, tokensPerSecond: 1_000 }),
      // Every request is authorized again: a changed limit binds the next request.
      authorizerCacheTtlMs: 0,
      console: false,
    });
    clients = localClients(local, spec.fetch);
  }, 60_000);
  afterAll(() => local.stop());

  it("lists the organization's limits, narrows one, and holds the project's keys to it", async () => {
    const { admin, primary, project } = await newOrganization('rl-narrow');
    const rateLimits = admin.admin.organization.projects.rateLimits;
    const before = await rateLimits.listRateLimits(project);
    const limit = before.data.find((l) => l.model === MODEL);
    expect(limit).toMatchObject({ id: `rl-${MODEL}`, max_requests_per_1_minute: developerRpm });

    // A key made before the change and one made after both take it.
    const early = await keyOf(admin, project);
    const updated = await rateLimits.updateRateLimit(`rl-${MODEL}`, {
      project_id: project,
      max_requests_per_1_minute: 2,
    });
    expect(updated).toMatchObject({ object: 'project.rate_limit', max_requests_per_1_minute: 2 });
    const late = await keyOf(admin, project);
    const listed = await rateLimits.listRateLimits(project);
    expect(listed.data.find((l) => l.model === MODEL)?.max_requests_per_1_minute).toBe(2);

    // All three in one UTC minute: the third is refused by the first two's count.
    await clearOfMinuteBoundary(10_000);
    await chat(early);
    await chat(late);
    const refused = await chat(early).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(OpenAI.RateLimitError);
    expect((refused as Error).message).toMatch(/project `proj_/);
    // The default project's key is not held by the other project's limit.
    await expect(chat(primary)).resolves.toMatchObject({ object: 'chat.completion' });
  });

  it("refuses a limit above the organization's with a 400 naming the field", async () => {
    const { admin, project } = await newOrganization('rl-refuse');
    const rateLimits = admin.admin.organization.projects.rateLimits;
    const refusal = (body: Record<string, unknown>, id = `rl-${MODEL}`) =>
      rateLimits.updateRateLimit(id, { project_id: project, ...body }).then(
        () => undefined,
        (error: unknown) => error as InstanceType<typeof OpenAI.APIError>,
      );
    const above = await refusal({ max_requests_per_1_minute: developerRpm + 1 });
    expect(above).toMatchObject({ status: 400, param: 'max_requests_per_1_minute' });
    expect(above?.message).toMatch(new RegExp(`at most ${developerRpm}`));
    expect(await refusal({ max_tokens_per_1_minute: 0 })).toMatchObject({
      status: 400,
      param: 'max_tokens_per_1_minute',
    });
    expect(await refusal({ max_images_per_1_minute: 1 })).toMatchObject({
      status: 400,
      param: 'max_images_per_1_minute',
    });
    expect(await refusal({ max_requests_per_1_day: 5 }, 'rl-no-such-model')).toMatchObject({
      status: 404,
    });
  });

  it("answers 404 for another organization's project, and 403 to a project key", async () => {
    const mine = await newOrganization('rl-mine');
    const theirs = await newOrganization('rl-theirs');
    await expect(
      theirs.admin.admin.organization.projects.rateLimits.listRateLimits(mine.project),
    ).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(
      theirs.admin.admin.organization.projects.rateLimits.updateRateLimit(`rl-${MODEL}`, {
        project_id: mine.project,
        max_requests_per_1_minute: 1,
      }),
    ).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    const key = await keyOf(mine.admin, mine.project);
    await expect(
      key.admin.organization.projects.rateLimits.listRateLimits(mine.project),
    ).rejects.toBeInstanceOf(OpenAI.PermissionDeniedError);
  });

  it("sets a project's spend limit within the organization's, and refuses its keys past it", async () => {
    const { admin, primary, project } = await newOrganization('spend-project');
    const spendLimit = admin.admin.organization.projects.spendLimit;
    await expect(spendLimit.retrieve(project)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    // The organization's limit: $1. A project may not have more.
    await admin.put('/spend_limit', { body: { monthly_limit_usd: 1 } });
    const above = await spendLimit
      .update(project, { threshold_amount: 101, currency: 'USD', interval: 'month' })
      .then(
        () => undefined,
        (error: unknown) => error as InstanceType<typeof OpenAI.APIError>,
      );
    expect(above).toMatchObject({ status: 400, param: 'threshold_amount' });
    expect(above?.message).toMatch(/at most the organization's .* 100 cents/);

    const key = await keyOf(admin, project);
    // One cent: less than the worst cost of a request of 20,000 prompt tokens to qwen3-14b
    // ($0.59 per 1M in), so the project refuses it while the organization's $1 would not.
    const set = await spendLimit.update(project, {
      threshold_amount: 1,
      currency: 'USD',
      interval: 'month',
    });
    expect(set).toMatchObject({ object: 'project.spend_limit', threshold_amount: 1 });
    expect(await spendLimit.retrieve(project)).toMatchObject({ threshold_amount: 1 });
    const big = (openai: OpenAI) =>
      openai.chat.completions.create({
        model: 'qwen3-14b',
        max_completion_tokens: 100,
        messages: [{ role: 'user', content: 'word '.repeat(20_000) }],
      });
    const refused = await big(key).then(
      () => undefined,
      (error: unknown) => error as InstanceType<typeof OpenAI.APIError>,
    );
    expect(refused).toMatchObject({ status: 429, code: 'insufficient_quota' });
    expect(refused?.message).toMatch(/Project `proj_\w+` reached its monthly spend limit/);
    // The default project's key is held by the organization's $1 only.
    await expect(big(primary)).resolves.toMatchObject({ object: 'chat.completion' });

    expect(await spendLimit.delete(project)).toEqual({
      object: 'project.spend_limit.deleted',
      deleted: true,
    });
    await expect(big(key)).resolves.toMatchObject({ object: 'chat.completion' });
  });
});
