import { GetObjectCommand } from '@aws-sdk/client-s3';
import { toFile } from 'openai';
import { createS3Client } from '../../lambda/files/file-storage';
import { bufferSource, readAdapterArchive } from '../../lambda/fine-tuning/adapter-archive';
import { bucketLayout } from '../../lambda/fine-tuning/fine-tuning-table';
import { costMicroUsd, microUsdToUsd, pricesOf } from '../../lambda/metering/pricing';
import { loadConfig } from '../../lib/config/load';
import { LOCAL_FILES_BUCKET, type LocalMode, startLocalMode } from '../../local/local-mode';
import { adapterFiles, entriesOf, tarGzOf, zipOf } from '../support/adapters';
import { type LocalClients, localClients } from '../support/local-clients';
import { expectSpecCompliance, specCheckedFetch } from '../support/spec-check';

/**
 * Bring your own LoRA adapter (Groq's `/v1/fine_tunings`) and serving `ft:` models, end to end in
 * local mode (dynalite, the embedded S3 server, the test model) with the official clients: upload,
 * register, list and retrieve in `/v1/models`, chat (stream and not) through the adapter, delete;
 * and another customer can neither see, use, delete nor register on top of the model.
 */

const config = loadConfig({ env: 'dev' });
const BASE = 'qwen3-8b';
const architecture = config.models[BASE]?.architecture;
if (!architecture) throw new Error('the base model has no architecture');

describe('LoRA adapters: register, serve, delete', () => {
  const spec = specCheckedFetch();
  afterEach(() => expectSpecCompliance(spec));

  let local: LocalMode;
  let keys: Record<string, string>;
  let clients: LocalClients;
  const client = (tier: string) => clients.openai(keys[tier] as string);
  const post = (tier: string, path: string, body: unknown) =>
    spec.fetch(`${local.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keys[tier]}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const upload = async (tier: string, bytes: Buffer, name = 'adapter.zip') =>
    (await client(tier).files.create({ file: await toFile(bytes, name), purpose: 'fine-tune' })).id;

  beforeAll(async () => {
    local = await startLocalMode({ config, port: 0, console: false });
    clients = localClients(local, spec.fetch);
    keys = { ...clients.keys };
  });
  afterAll(() => local.stop());

  it('registers a zip adapter, lists it for its owner only, serves it in chat (stream and not), deletes it', async () => {
    const enterprise = client('enterprise');
    const fileId = await upload(
      'enterprise',
      await zipOf(entriesOf(adapterFiles({ architecture, baseModel: BASE }))),
    );
    const registered = await post('enterprise', '/v1/fine_tunings', {
      input_file_id: fileId,
      name: 'support-bot',
      type: 'lora',
      base_model: BASE,
    });
    expect(registered.status).toBe(200);
    const fineTuning = (await registered.json()) as { id: string; data: Record<string, unknown> };
    const customerId = local.demoCustomers.find((d) => d.tier === 'enterprise')?.customerId;
    expect(fineTuning).toMatchObject({
      object: 'fine_tuning',
      data: {
        name: 'support-bot',
        base_model: BASE,
        type: 'lora',
        input_file_id: fileId,
        status: 'ready',
      },
    });
    const modelId = fineTuning.data.fine_tuned_model as string;
    expect(modelId).toMatch(new RegExp(`^ft:${BASE}:${customerId}:support-bot:[A-Za-z0-9]+$`));

    // Repackaged as the ONE adapter.tar.gz an adapter component serves, with both files at its
    // root.
    const key = bucketLayout.uploadedAdapter(fineTuning.id.replace(/^ftune_/, ''));
    const s3 = createS3Client({ endpoint: local.s3Endpoint });
    const object = await s3.send(new GetObjectCommand({ Bucket: LOCAL_FILES_BUCKET, Key: key }));
    const repackaged = Buffer.from(
      await (object.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
    );
    const archive = await readAdapterArchive(bufferSource(repackaged));
    expect(archive.format).toBe('tar.gz');
    expect(archive.config).toMatchObject({ r: 16, base_model_name_or_path: BASE });
    s3.destroy();

    // The same registration again (a retry) answers the same model.
    const again = await post('enterprise', '/v1/fine_tunings', {
      input_file_id: fileId,
      name: 'support-bot',
      base_model: BASE,
    });
    expect(
      ((await again.json()) as { data: { fine_tuned_model: string } }).data.fine_tuned_model,
    ).toBe(modelId);

    // In the owner's /v1/models (owned by the customer), and nobody else's.
    const listed = await enterprise.models.list();
    expect(listed.data.find((m) => m.id === modelId)).toMatchObject({
      object: 'model',
      owned_by: customerId,
    });
    expect((await client('developer').models.list()).data.map((m) => m.id)).not.toContain(modelId);
    expect(await enterprise.models.retrieve(modelId)).toMatchObject({
      id: modelId,
      owned_by: customerId,
    });
    await expect(client('developer').models.retrieve(modelId)).rejects.toMatchObject({
      status: 404,
    });

    // Served through the adapter: the test model names the adapter that answered.
    const completion = await enterprise.chat.completions.create({
      model: modelId,
      messages: [{ role: 'user', content: 'hello adapter' }],
      max_completion_tokens: 12,
    });
    expect(completion.model).toBe(modelId);
    expect(completion.choices[0]?.message.content).toMatch(
      /Served by adapter tierline-dev-lora-[A-Za-z0-9]+\./,
    );
    const stream = await enterprise.chat.completions.create({
      model: modelId,
      messages: [{ role: 'user', content: 'hello stream' }],
      max_completion_tokens: 12,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    for await (const chunk of stream) {
      expect(chunk.model).toBe(modelId);
      text += chunk.choices[0]?.delta.content ?? '';
    }
    expect(text).toMatch(/Served by adapter tierline-dev-lora-/);

    // groq-sdk sees the same (it has no fine_tunings call: models and chat).
    const groq = clients.groq(clients.keys.enterprise);
    expect((await groq.models.list()).data.map((m) => m.id)).toContain(modelId);
    const viaGroq = await groq.chat.completions.create({
      model: modelId,
      messages: [{ role: 'user', content: 'hi' }],
      max_completion_tokens: 12,
    });
    expect(viaGroq.choices[0]?.message.content).toContain('Served by adapter');

    // Another customer can neither use nor delete it: 404, as for a model that does not exist.
    await expect(
      client('developer').chat.completions.create({
        model: modelId,
        messages: [{ role: 'user', content: 'x' }],
      }),
    ).rejects.toMatchObject({ status: 404, code: 'model_not_found' });
    await expect(client('developer').models.delete(modelId)).rejects.toMatchObject({ status: 404 });
    const othersFineTuning = await spec.fetch(`${local.url}/v1/fine_tunings/${fineTuning.id}`, {
      headers: { authorization: `Bearer ${keys.developer}` },
    });
    expect(othersFineTuning.status).toBe(404);
    // ...nor register the owner's file on top of it.
    const onTop = await post('developer', '/v1/fine_tunings', {
      input_file_id: fileId,
      name: 'support-bot',
      base_model: BASE,
    });
    expect(onTop.status).toBe(404);
    expect(await onTop.json()).toMatchObject({ error: { param: 'input_file_id' } });

    // The owner deletes it (OpenAI's shape); from then on it is gone for everyone.
    expect(await enterprise.models.delete(modelId)).toEqual({
      id: modelId,
      object: 'model',
      deleted: true,
    });
    await expect(enterprise.models.retrieve(modelId)).rejects.toMatchObject({ status: 404 });
    await expect(
      enterprise.chat.completions.create({
        model: modelId,
        messages: [{ role: 'user', content: 'x' }],
      }),
    ).rejects.toMatchObject({ status: 404 });
    expect((await enterprise.models.list()).data.map((m) => m.id)).not.toContain(modelId);
  });

  it('registers a tar.gz adapter for a Developer (LoRA switch on) and bills it at the premium', async () => {
    const fileId = await upload(
      'developer',
      await tarGzOf(entriesOf(adapterFiles({ architecture, baseModel: BASE }))),
      'adapter.tar.gz',
    );
    const registered = await post('developer', '/v1/fine_tunings', {
      input_file_id: fileId,
      name: 'dev',
      type: 'lora',
      base_model: BASE,
    });
    expect(registered.status).toBe(200);
    const modelId = ((await registered.json()) as { data: { fine_tuned_model: string } }).data
      .fine_tuned_model;
    const completion = await client('developer').chat.completions.create({
      model: modelId,
      messages: [{ role: 'user', content: 'bill me' }],
      max_completion_tokens: 48,
    });
    const usage = await spec.fetch(`${local.url}/v1/usage?group_by=model`, {
      headers: { authorization: `Bearer ${keys.developer}` },
    });
    const rows = ((await usage.json()) as { data: { model: string; cost_usd: string | number }[] })
      .data;
    const row = rows.find((r) => r.model === modelId);
    expect(row).toBeDefined();
    // Developer: the base model's prices + the tier's premium (25%), rounded up to the µ$ once per
    // request.
    const offer = config.tiers.developer.models[BASE];
    if (!offer || !completion.usage) throw new Error('no offer or usage');
    const tokens = {
      inputTokens: completion.usage.prompt_tokens,
      outputTokens: completion.usage.completion_tokens,
    };
    const premium = costMicroUsd(
      tokens,
      pricesOf(offer, config.tiers.developer.lora.premiumPercent),
    );
    expect(premium).toBeGreaterThan(costMicroUsd(tokens, pricesOf(offer)));
    expect(Number(row?.cost_usd)).toBe(microUsdToUsd(premium));
  });

  it("runs batch lines on the owner's ft: model through its adapter; another customer's id goes to the error file", async () => {
    const developer = client('developer');
    const fileId = await upload(
      'developer',
      await zipOf(entriesOf(adapterFiles({ architecture, baseModel: BASE }))),
    );
    const registered = await post('developer', '/v1/fine_tunings', {
      input_file_id: fileId,
      name: 'batch',
      base_model: BASE,
    });
    const modelId = ((await registered.json()) as { data: { fine_tuned_model: string } }).data
      .fine_tuned_model;
    const others = `ft:${BASE}:${local.demoCustomers.find((d) => d.tier === 'enterprise')?.customerId}:x:nope`;
    const line = (id: string, model: string) =>
      JSON.stringify({
        custom_id: id,
        method: 'POST',
        url: '/v1/chat/completions',
        body: {
          model,
          messages: [{ role: 'user', content: 'batch hello' }],
          max_completion_tokens: 12,
        },
      });
    const input = await developer.files.create({
      file: await toFile(
        Buffer.from(`${line('mine', modelId)}\n${line('theirs', others)}\n`),
        'batch.jsonl',
      ),
      purpose: 'batch',
    });
    const batch = await developer.batches.create({
      input_file_id: input.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    let done = await developer.batches.retrieve(batch.id);
    for (const end = Date.now() + 20_000; done.status !== 'completed' && Date.now() < end; ) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      done = await developer.batches.retrieve(batch.id);
    }
    expect(done).toMatchObject({
      status: 'completed',
      request_counts: { total: 2, completed: 1, failed: 1 },
    });
    const output = JSON.parse(
      await (await developer.files.content(done.output_file_id as string)).text(),
    );
    expect(output).toMatchObject({
      custom_id: 'mine',
      response: { status_code: 200, body: { model: modelId } },
    });
    expect(output.response.body.choices[0].message.content).toMatch(
      /Served by adapter tierline-dev-lora-/,
    );
    const error = JSON.parse(
      await (await developer.files.content(done.error_file_id as string)).text(),
    );
    expect(error).toMatchObject({
      custom_id: 'theirs',
      response: { status_code: 404, body: { error: { code: 'model_not_found' } } },
    });
  });

  it('answers every bad registration with a 4xx naming the parameter', async () => {
    const good = await upload(
      'enterprise',
      await zipOf(entriesOf(adapterFiles({ architecture, baseModel: BASE }))),
    );
    const qwen = config.models['qwen3-32b']?.architecture;
    if (!qwen) throw new Error('no qwen architecture');
    const wrongShapes = await upload(
      'enterprise',
      await zipOf(entriesOf(adapterFiles({ architecture: qwen }))),
    );
    const jsonl = (
      await client('enterprise').files.create({
        file: await toFile(Buffer.from('{"messages":[]}\n'), 'train.jsonl'),
        purpose: 'fine-tune',
      })
    ).id;
    const body = { input_file_id: good, name: 'x', type: 'lora', base_model: BASE };
    const cases: [unknown, number, string | null][] = [
      [{ ...body, input_file_id: undefined }, 400, 'input_file_id'],
      [{ ...body, input_file_id: 'file-nope' }, 404, 'input_file_id'],
      [{ ...body, name: 'has spaces' }, 400, 'name'],
      [{ ...body, type: 'full' }, 400, 'type'],
      [{ ...body, base_model: 'gpt-9' }, 404, 'base_model'],
      [{ ...body, extra: 1 }, 400, 'extra'],
      [{ ...body, input_file_id: wrongShapes }, 400, 'input_file_id'],
      [{ ...body, input_file_id: jsonl }, 400, 'input_file_id'],
    ];
    for (const [request, status, param] of cases) {
      const response = await post('enterprise', '/v1/fine_tunings', request);
      expect([JSON.stringify(request), response.status]).toEqual([JSON.stringify(request), status]);
      expect(((await response.json()) as { error: { param: string | null } }).error.param).toBe(
        param,
      );
    }
    const shapes = await post('enterprise', '/v1/fine_tunings', {
      ...body,
      input_file_id: wrongShapes,
    });
    expect(((await shapes.json()) as { error: { message: string } }).error.message).toMatch(
      /has shape \[16, 5120\], expected \[16, 4096\]/,
    );
    // Base models are not the customer's to delete.
    const base = await spec.fetch(`${local.url}/v1/models/${BASE}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${keys.enterprise}` },
    });
    expect(base.status).toBe(400);
    expect(await base.json()).toMatchObject({ error: { code: 'model_not_deletable' } });
  });

  it('refuses LoRA to the Free tier with a 403 that names the tiers that have it', async () => {
    const fileId = await upload(
      'free',
      await zipOf(entriesOf(adapterFiles({ architecture, baseModel: BASE }))),
    );
    const response = await post('free', '/v1/fine_tunings', {
      input_file_id: fileId,
      name: 'f',
      base_model: BASE,
    });
    expect(response.status).toBe(403);
    const { error } = (await response.json()) as { error: { message: string } };
    expect(error.message).toMatch(
      /not available on the free tier \(available on: developer, enterprise\)/,
    );
  });
});
