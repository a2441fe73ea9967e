import OpenAI, { toFile } from 'openai';
import { TestModelBackend } from '../../lambda/inference/backends/test-model-backend';
import { loadConfig } from '../../lib/config/load';
import { type LocalMode, startLocalMode } from '../../local/local-mode';
import { ownerSession } from '../support/local-sign-in';
import { expectSpecCompliance, specCheckedFetch } from '../support/spec-check';
import { until } from '../support/until';

/**
 * Files, uploads, batches and fine-tuning jobs belong to one project, as OpenAI's do: two projects
 * of one organization, each with its own key (the official `openai` client, local mode over real
 * HTTP), never see, use or change each other's. Every route that names another project's object
 * answers 404 as for an unknown id, and its lists leave it out; the console's session acts in the
 * default project and sees exactly that project's objects.
 */
const config = loadConfig({ env: 'dev' });
const MODEL = 'qwen3-8b';

const batchLine = (customId: string) =>
  JSON.stringify({
    custom_id: customId,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: MODEL, messages: [{ role: 'user', content: customId }], max_tokens: 5 },
  });
const conversation = (i: number) =>
  JSON.stringify({
    messages: [
      { role: 'user', content: `Say ${i}.` },
      { role: 'assistant', content: `${i}.` },
    ],
  });

/** What one project made: a file of each purpose, an upload's file, a batch and a job. */
interface Made {
  batchFile: string;
  fineTuneFile: string;
  audioFile: string;
  uploadedFile: string;
  pendingUpload: string;
  batch: string;
  outputFile: string;
  job: string;
}

async function make(openai: OpenAI, name: string): Promise<Made> {
  const upload = async (purpose: 'batch' | 'fine-tune' | 'user_data', text: string) =>
    (await openai.files.create({ file: await toFile(Buffer.from(text), `${name}.jsonl`), purpose }))
      .id;
  const batchFile = await upload('batch', `${batchLine(`${name}-1`)}\n${batchLine(`${name}-2`)}\n`);
  const fineTuneFile = await upload(
    'fine-tune',
    `${Array.from({ length: 10 }, (_, i) => conversation(i)).join('\n')}\n`,
  );
  const audioFile = await upload('user_data', 'not audio, but a file all the same');
  const body = Buffer.from(`${batchLine(`${name}-upload`)}\n`);
  const started = await openai.uploads.create({
    filename: `${name}-upload.jsonl`,
    purpose: 'batch',
    bytes: body.byteLength,
    mime_type: 'text/jsonl',
  });
  const part = await openai.uploads.parts.create(started.id, { data: await toFile(body, 'p') });
  const completed = await openai.uploads.complete(started.id, { part_ids: [part.id] });
  const pending = await openai.uploads.create({
    filename: `${name}-pending.jsonl`,
    purpose: 'batch',
    bytes: 10,
    mime_type: 'text/jsonl',
  });
  const created = await openai.batches.create({
    input_file_id: batchFile,
    endpoint: '/v1/chat/completions',
    completion_window: '24h',
  });
  const batch = await until(
    () => openai.batches.retrieve(created.id),
    (b) => b.status === 'completed',
  );
  expect(batch.status).toBe('completed');
  // Local mode has no trainer: the job fails at once, and stays a job of its project.
  const job = await openai.fineTuning.jobs.create({ model: MODEL, training_file: fineTuneFile });
  return {
    batchFile,
    fineTuneFile,
    audioFile,
    uploadedFile: completed.file?.id ?? '',
    pendingUpload: pending.id,
    batch: batch.id,
    outputFile: batch.output_file_id ?? '',
    job: job.id,
  };
}

const files = (made: Made) => [
  made.batchFile,
  made.fineTuneFile,
  made.audioFile,
  made.uploadedFile,
  made.outputFile,
];

async function allIds<T extends { id: string }>(page: AsyncIterable<T>): Promise<string[]> {
  const ids: string[] = [];
  for await (const item of page) ids.push(item.id);
  return ids;
}

describe('files, uploads, batches and fine-tuning jobs belong to one project', () => {
  const spec = specCheckedFetch();
  afterEach(() => expectSpecCompliance(spec));
  let local: LocalMode;
  let organization: string;
  let home: OpenAI;
  let team: OpenAI;
  let mine: Made;
  let theirs: Made;
  const client = (apiKey: string) =>
    new OpenAI({ apiKey, baseURL: local.openAIBaseUrl, maxRetries: 0, fetch: spec.fetch });

  beforeAll(async () => {
    local = await startLocalMode({
      config,
      port: 0,
      backend: new TestModelBackend({ replyTokens: 4, tokensPerSecond: 1_000 }),
      authorizerCacheTtlMs: 0,
      console: false,
      signIn: {},
    });
    const { customer, apiKey } = await local.operator.createCustomer({
      name: 'Two teams',
      email: 'owner@project-scope.test',
      tier: 'developer',
    });
    organization = customer.customerId;
    const { key: adminKey } = await local.operator.createAdminKey(organization, 'ops');
    const admin = new OpenAI({
      apiKey: adminKey,
      adminAPIKey: adminKey,
      baseURL: local.openAIBaseUrl,
      maxRetries: 0,
    });
    const project = await admin.admin.organization.projects.create({ name: 'Other team' });
    const made: { key: string } = await admin.post('/keys', {
      body: { name: 'worker', permissions: 'all' },
      headers: { 'OpenAI-Project': project.id },
    });
    home = client(apiKey as string);
    team = client(made.key);
    mine = await make(home, 'home');
    theirs = await make(team, 'team');
  }, 90_000);
  afterAll(async () => {
    await local?.stop();
  });

  const notFound = async (attempt: () => Promise<unknown>, param?: string) => {
    const error = await attempt().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    if (param) expect((error as InstanceType<typeof OpenAI.NotFoundError>).param).toBe(param);
  };

  it.each([
    ['the default project', () => home, () => theirs],
    ['a named project', () => team, () => mine],
  ])(
    "answers 404 in %s to every route naming the other project's objects",
    async (_, reader, other) => {
      const openai = reader();
      const made = other();
      for (const id of files(made)) {
        await notFound(() => openai.files.retrieve(id));
        await notFound(() => openai.files.content(id));
        await notFound(() => openai.files.delete(id));
      }
      const part = await toFile(Buffer.from('x'), 'x');
      await notFound(() => openai.uploads.parts.create(made.pendingUpload, { data: part }));
      await notFound(() => openai.uploads.complete(made.pendingUpload, { part_ids: ['part_x'] }));
      await notFound(() => openai.uploads.cancel(made.pendingUpload));
      await notFound(() => openai.batches.retrieve(made.batch));
      await notFound(() => openai.batches.cancel(made.batch));
      await notFound(
        () =>
          openai.batches.create({
            input_file_id: made.batchFile,
            endpoint: '/v1/chat/completions',
            completion_window: '24h',
          }),
        'input_file_id',
      );
      await notFound(() => openai.fineTuning.jobs.retrieve(made.job));
      await notFound(() => openai.fineTuning.jobs.listEvents(made.job));
      await notFound(() => openai.fineTuning.jobs.checkpoints.list(made.job));
      await notFound(() => openai.fineTuning.jobs.cancel(made.job));
      await notFound(
        () => openai.fineTuning.jobs.create({ model: MODEL, training_file: made.fineTuneFile }),
        'training_file',
      );
      const own = reader() === home ? mine : theirs;
      await notFound(
        () =>
          openai.fineTuning.jobs.create({
            model: MODEL,
            training_file: own.fineTuneFile,
            validation_file: made.fineTuneFile,
          }),
        'validation_file',
      );
      // Groq's `url` naming a stored file (the openai client passes the field on).
      await notFound(
        () =>
          openai.audio.transcriptions.create({
            model: 'whisper-large-v3-turbo',
            url: made.audioFile,
          } as never),
        'url',
      );
      // Groq's adapter registration names its archive by file id.
      const register = await spec.fetch(`${local.openAIBaseUrl}/fine_tunings`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${openai.apiKey}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify({
          input_file_id: made.fineTuneFile,
          base_model: MODEL,
          name: 'stolen',
          type: 'lora',
        }),
      });
      expect(register.status).toBe(404);
      // A job list cannot be paged from another project's job either.
      const after = await openai.fineTuning.jobs.list({ after: made.job }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(after).toBeInstanceOf(OpenAI.BadRequestError);
    },
  );

  it("lists only the project's own files, batches and jobs, and leaves each project's objects intact", async () => {
    for (const [openai, own, other] of [
      [home, mine, theirs],
      [team, theirs, mine],
    ] as const) {
      const listed = await allIds(openai.files.list());
      expect(listed).toEqual(expect.arrayContaining(files(own)));
      for (const id of files(other)) expect(listed).not.toContain(id);
      const batchFiles = await allIds(openai.files.list({ purpose: 'batch' }));
      expect(batchFiles).toEqual(expect.arrayContaining([own.batchFile, own.uploadedFile]));
      expect(batchFiles).not.toContain(other.batchFile);
      expect(batchFiles).not.toContain(other.uploadedFile);
      // A page of one at a time still reaches every own file, past the other's in between.
      const paged = await allIds(openai.files.list({ limit: 1 }));
      expect(paged.sort()).toEqual([...listed].sort());

      expect(await allIds(openai.batches.list())).toEqual([own.batch]);
      expect(await allIds(openai.fineTuning.jobs.list())).toEqual([own.job]);

      // Everything the other project tried left its own objects as they were.
      for (const id of files(own)) expect((await openai.files.retrieve(id)).id).toBe(id);
      expect((await openai.files.content(own.outputFile)).status).toBe(200);
      expect((await openai.batches.retrieve(own.batch)).status).toBe('completed');
      expect((await openai.fineTuning.jobs.retrieve(own.job)).id).toBe(own.job);
      expect((await openai.fineTuning.jobs.listEvents(own.job)).data.length).toBeGreaterThan(0);
      expect((await openai.uploads.cancel(own.pendingUpload)).status).toBe('cancelled');
    }
  });

  it('shows the console session the default project: its objects, and 404 for the named project', async () => {
    const email = 'owner-session@project-scope.test';
    const session = await ownerSession(local, email, organization, spec.fetch);

    const listed = await allIds(session.files.list());
    expect(listed).toEqual(expect.arrayContaining(files(mine)));
    for (const id of files(theirs)) expect(listed).not.toContain(id);
    expect(await allIds(session.batches.list())).toEqual([mine.batch]);
    expect(await allIds(session.fineTuning.jobs.list())).toEqual([mine.job]);
    expect((await session.batches.retrieve(mine.batch)).output_file_id).toBe(mine.outputFile);
    await notFound(() => session.files.retrieve(theirs.outputFile));
    await notFound(() => session.batches.retrieve(theirs.batch));
    await notFound(() => session.fineTuning.jobs.retrieve(theirs.job));
  });
});
