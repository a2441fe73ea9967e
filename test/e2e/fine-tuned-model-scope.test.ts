import OpenAI, { toFile } from 'openai';
import { type FineTunedModel, ModelsRepository } from '../../lambda/fine-tuning/models-repository';
import { loadConfig } from '../../lib/config/load';
import { LOCAL_FINE_TUNING_TABLE, type LocalMode, startLocalMode } from '../../local/local-mode';
import { adapterFiles, entriesOf, zipOf } from '../support/adapters';
import { localModeDocumentClient } from '../support/dynalite';
import { localClients } from '../support/local-clients';
import { ownerSession } from '../support/local-sign-in';
import { expectSpecCompliance, specCheckedFetch } from '../support/spec-check';
import { until } from '../support/until';

/**
 * A fine-tuned model belongs to the project that made it, as OpenAI's does: two projects of one
 * organization, each with its own key (the official `openai` client, local mode over real HTTP).
 * Every route that names another project's `ft:` model (models, chat, responses, input tokens,
 * batch lines, Groq's `/v1/fine_tunings`) answers exactly what an unknown id gets, and lists leave
 * it out. A model recorded before models carried a project is the default project's, and the
 * console's session, acting in the default project, sees the default project's models only.
 */
const config = loadConfig({ env: 'dev' });
const BASE = 'qwen3-8b';
const architecture = config.models[BASE]?.architecture;
if (!architecture) throw new Error('the base model has no architecture');

interface NotFoundAnswer {
  status: number;
  code: string | null | undefined;
  param: string | null | undefined;
  message: string;
}

/** What a call failed with, in the parts an unknown model's 404 has (the id named in the message is replaced). */
async function refusal(attempt: () => Promise<unknown>, id: string): Promise<NotFoundAnswer> {
  const error = await attempt().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(OpenAI.APIError);
  const api = error as InstanceType<typeof OpenAI.APIError>;
  return {
    status: api.status ?? 0,
    code: api.code,
    param: api.param,
    message: api.message.replaceAll(id, '<id>'),
  };
}

describe('a fine-tuned model belongs to the project whose job (or registration) made it', () => {
  const spec = specCheckedFetch();
  afterEach(() => expectSpecCompliance(spec));
  let local: LocalMode;
  let organization: string;
  let home: OpenAI;
  let team: OpenAI;
  let homeKey: string;
  let teamKey: string;
  /** Registered by each project's key. */
  let homeModel: string;
  let teamModel: string;
  /** Recorded by a job of the named project (the workflow's record, written as it writes it). */
  let teamTrained: string;
  /** Recorded before models carried a project: the default project's. */
  let legacyModel: string;
  /** Same shape, never made. */
  let unknownModel: string;

  const register = async (openai: OpenAI, apiKey: string, name: string) => {
    const file = await openai.files.create({
      file: await toFile(
        await zipOf(entriesOf(adapterFiles({ architecture, baseModel: BASE }))),
        'adapter.zip',
      ),
      purpose: 'fine-tune',
    });
    const registered = await spec.fetch(`${local.openAIBaseUrl}/fine_tunings`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ input_file_id: file.id, name, type: 'lora', base_model: BASE }),
    });
    expect(registered.status).toBe(200);
    return ((await registered.json()) as { data: { fine_tuned_model: string } }).data
      .fine_tuned_model;
  };

  const fineTuningIdOf = (modelId: string) => `ftune_${modelId.split(':').at(-1)}`;

  beforeAll(async () => {
    local = await startLocalMode({
      config,
      port: 0,
      authorizerCacheTtlMs: 0,
      console: false,
      signIn: {},
    });
    const clients = localClients(local, spec.fetch);
    const { customer, apiKey } = await local.operator.createCustomer({
      name: 'Two teams',
      email: 'owner@fine-tuned-scope.test',
      tier: 'enterprise',
    });
    organization = customer.customerId;
    const { key: adminKey } = await local.operator.createAdminKey(organization, 'ops');
    const admin = clients.admin(adminKey);
    const project = await admin.admin.organization.projects.create({ name: 'Other team' });
    const made: { key: string } = await admin.post('/keys', {
      body: { name: 'worker', permissions: 'all' },
      headers: { 'OpenAI-Project': project.id },
    });
    homeKey = apiKey as string;
    teamKey = made.key;
    home = clients.openai(homeKey);
    team = clients.openai(teamKey);
    homeModel = await register(home, homeKey, 'home-bot');
    teamModel = await register(team, teamKey, 'team-bot');

    const record = (key: string, extra: Partial<FineTunedModel>): FineTunedModel => ({
      modelId: `ft:${BASE}:${organization}:${key}:${key}`,
      modelKey: key,
      customerId: organization,
      baseModel: BASE,
      componentName: `tierline-dev-lora-${key}`,
      artifactUrl: '',
      source: { kind: 'job', jobId: `ftjob-${key}` },
      name: key,
      status: 'ready',
      createdAt: Math.floor(Date.now() / 1000),
      ...extra,
    });
    const doc = localModeDocumentClient(local.dynamoEndpoint);
    try {
      const models = new ModelsRepository(doc, LOCAL_FINE_TUNING_TABLE);
      teamTrained = (await models.create(record('trained', { projectId: project.id }))).model
        .modelId;
      legacyModel = (await models.create(record('legacy', {}))).model.modelId;
    } finally {
      doc.destroy();
    }
    unknownModel = `ft:${BASE}:${organization}:never:made`;
  }, 90_000);
  afterAll(() => local?.stop());

  /** Every route that names an `ft:` model, as `openai` calls it. */
  const routes = (openai: OpenAI, apiKey: string) => ({
    retrieve: (id: string) => openai.models.retrieve(id),
    delete: (id: string) => openai.models.delete(id),
    chat: (id: string) =>
      openai.chat.completions.create({
        model: id,
        messages: [{ role: 'user', content: 'hello' }],
        max_completion_tokens: 8,
      }),
    chatStream: async (id: string) => {
      const stream = await openai.chat.completions.create({
        model: id,
        messages: [{ role: 'user', content: 'hello' }],
        max_completion_tokens: 8,
        stream: true,
      });
      for await (const _ of stream);
    },
    responses: (id: string) =>
      openai.responses.create({ model: id, input: 'hello', max_output_tokens: 16 }),
    inputTokens: (id: string) => openai.responses.inputTokens.count({ model: id, input: 'hello' }),
    fineTuning: async (id: string) => {
      const answer = await spec.fetch(`${local.openAIBaseUrl}/fine_tunings/${fineTuningIdOf(id)}`, {
        headers: { authorization: `Bearer ${apiKey}` },
      });
      if (answer.status !== 200) throw new Error(`fine_tunings: ${answer.status}`);
    },
  });

  it.each([
    ['the default project', () => home, () => homeKey, () => [teamModel, teamTrained]],
    ['a named project', () => team, () => teamKey, () => [homeModel, legacyModel]],
  ])(
    "answers another project's model in %s exactly as an unknown model",
    async (_, reader, key, others) => {
      const calls = routes(reader(), key());
      for (const [route, call] of Object.entries(calls)) {
        if (route === 'fineTuning') continue;
        const unknown = await refusal(() => call(unknownModel), unknownModel);
        expect(unknown).toMatchObject({ status: 404, code: 'model_not_found' });
        for (const id of others()) {
          expect([route, await refusal(() => call(id), id)]).toEqual([route, unknown]);
        }
      }
      for (const id of others()) {
        const answer = await spec.fetch(
          `${local.openAIBaseUrl}/fine_tunings/${fineTuningIdOf(id)}`,
          { headers: { authorization: `Bearer ${key()}` } },
        );
        expect(answer.status).toBe(404);
        const removed = await spec.fetch(
          `${local.openAIBaseUrl}/fine_tunings/${fineTuningIdOf(id)}`,
          { method: 'DELETE', headers: { authorization: `Bearer ${key()}` } },
        );
        expect(removed.status).toBe(404);
      }
    },
  );

  it("runs a batch line on the batch's project's model only: another project's goes to the error file as unknown", async () => {
    const line = (customId: string, model: string) =>
      JSON.stringify({
        custom_id: customId,
        method: 'POST',
        url: '/v1/chat/completions',
        body: { model, messages: [{ role: 'user', content: 'hi' }], max_completion_tokens: 8 },
      });
    const input = await team.files.create({
      file: await toFile(
        Buffer.from(
          [
            line('own', teamModel),
            line('trained', teamTrained),
            line('home', homeModel),
            line('legacy', legacyModel),
          ].join('\n'),
        ),
        'batch.jsonl',
      ),
      purpose: 'batch',
    });
    const created = await team.batches.create({
      input_file_id: input.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const batch = await until(
      () => team.batches.retrieve(created.id),
      (b) => b.status === 'completed',
    );
    expect(batch).toMatchObject({
      status: 'completed',
      request_counts: { total: 4, completed: 2, failed: 2 },
    });
    const lines = async (fileId: string | null | undefined) =>
      (await (await team.files.content(fileId as string)).text())
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { custom_id: string; response: { status_code: number } });
    const output = await lines(batch.output_file_id);
    expect(output.map((l) => [l.custom_id, l.response.status_code]).sort()).toEqual([
      ['own', 200],
      ['trained', 200],
    ]);
    const errors = await lines(batch.error_file_id);
    expect(errors.map((l) => l.custom_id).sort()).toEqual(['home', 'legacy']);
    for (const error of errors)
      expect(error.response).toMatchObject({
        status_code: 404,
        body: { error: { code: 'model_not_found' } },
      });
  });

  it("lists each project's own models only, and leaves them serving after the other's attempts", async () => {
    for (const [openai, apiKey, own, other] of [
      [home, homeKey, [homeModel, legacyModel], [teamModel, teamTrained]],
      [team, teamKey, [teamModel, teamTrained], [homeModel, legacyModel]],
    ] as const) {
      const listed = (await openai.models.list()).data.map((m) => m.id);
      expect(listed).toEqual(expect.arrayContaining([...own]));
      for (const id of other) expect(listed).not.toContain(id);
      const registrations = await spec.fetch(`${local.openAIBaseUrl}/fine_tunings`, {
        headers: { authorization: `Bearer ${apiKey}` },
      });
      const registered = (
        (await registrations.json()) as { data: { data: { fine_tuned_model: string } }[] }
      ).data.map((f) => f.data.fine_tuned_model);
      expect(registered).toEqual(expect.arrayContaining([...own]));
      for (const id of other) expect(registered).not.toContain(id);
      for (const id of own) {
        expect((await openai.models.retrieve(id)).id).toBe(id);
        const completion = await openai.chat.completions.create({
          model: id,
          messages: [{ role: 'user', content: 'still mine' }],
          max_completion_tokens: 8,
        });
        expect(completion.model).toBe(id);
      }
    }
    // The owner deletes its own model: gone for its project too.
    expect(await team.models.delete(teamModel)).toMatchObject({ id: teamModel, deleted: true });
    await expect(team.models.retrieve(teamModel)).rejects.toMatchObject({ status: 404 });
  });

  it("leaves another project's model out of a project key's /v1/usage: its id is not named there either", async () => {
    // Each project runs its own model once, so the organization's usage has both.
    for (const [openai, id] of [
      [home, homeModel],
      [team, teamTrained],
    ] as const) {
      await openai.chat.completions.create({
        model: id,
        messages: [{ role: 'user', content: 'counted' }],
        max_completion_tokens: 8,
      });
    }
    const read = async (apiKey: string, groupBy: 'model' | 'day') => {
      const answer = await spec.fetch(`${local.openAIBaseUrl}/usage?group_by=${groupBy}`, {
        headers: { authorization: `Bearer ${apiKey}` },
      });
      expect(answer.status).toBe(200);
      return JSON.stringify(await answer.json());
    };
    for (const [apiKey, own, others] of [
      [homeKey, homeModel, [teamModel, teamTrained]],
      [teamKey, teamTrained, [homeModel, legacyModel]],
    ] as const) {
      // The aggregates follow the ledger: wait for both projects' requests.
      const byModel = await until(
        () => read(apiKey, 'model'),
        (text) => (JSON.parse(text) as { total: { requests: number } }).total.requests >= 2,
      );
      const byDay = await read(apiKey, 'day');
      for (const text of [byModel, byDay]) {
        expect(text).toContain(own);
        for (const id of others) expect(text).not.toContain(id);
        // The other project's request still counts, under one name that says nothing of it.
        expect(text).toContain('"model":"ft:unlisted"');
      }
    }
  });

  it("shows the console session the default project's models only", async () => {
    const email = 'owner-session@fine-tuned-scope.test';
    const session = await ownerSession(local, email, organization, spec.fetch);
    const listed = (await session.models.list()).data.map((m) => m.id);
    expect(listed).toEqual(expect.arrayContaining([homeModel, legacyModel]));
    expect(listed).not.toContain(teamTrained);
    expect((await session.models.retrieve(legacyModel)).id).toBe(legacyModel);
    const unknown = await refusal(() => session.models.retrieve(unknownModel), unknownModel);
    expect(await refusal(() => session.models.retrieve(teamTrained), teamTrained)).toEqual(unknown);
    const chat = (id: string) =>
      session.chat.completions.create({
        model: id,
        messages: [{ role: 'user', content: 'hello' }],
        max_completion_tokens: 8,
      });
    expect((await chat(homeModel)).model).toBe(homeModel);
    expect(await refusal(() => chat(teamTrained), teamTrained)).toEqual(
      await refusal(() => chat(unknownModel), unknownModel),
    );
  });
});
