import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type Groq from 'groq-sdk';
import { toFile as groqToFile } from 'groq-sdk';
import OpenAI, { toFile } from 'openai';
import { lineRequestId } from '../../lambda/batches/batch-worker';
import { loadConfig } from '../../lib/config/load';
import { LOCAL_METERING_TABLE, type LocalMode, startLocalMode } from '../../local/local-mode';
import { localModeDocumentClient } from '../support/dynalite';
import { localClients } from '../support/local-clients';
import { expectMatchesSpec, expectSpecCompliance, specCheckedFetch } from '../support/spec-check';
import { until } from '../support/until';

/**
 * The Batch API end to end: local mode with its in-process worker, the official `openai` and
 * `groq-sdk` clients. Every response is checked against OpenAI's published schema.
 */
const config = loadConfig({ env: 'dev' });
const MODEL = 'qwen3-8b';

const line = (customId: string, content: string, body: Record<string, unknown> = {}) =>
  JSON.stringify({
    custom_id: customId,
    method: 'POST',
    url: '/v1/chat/completions',
    body: {
      model: MODEL,
      messages: [{ role: 'user', content }],
      max_completion_tokens: 20,
      ...body,
    },
  });

describe('Batch API with the official clients', () => {
  // Every answer below is checked against OpenAI's and Tierline's published schemas.
  const spec = specCheckedFetch();
  afterEach(() => expectSpecCompliance(spec));

  let local: LocalMode;
  let openai: OpenAI;
  let other: OpenAI;
  let free: OpenAI;
  let groq: Groq;

  beforeAll(async () => {
    local = await startLocalMode({ config, port: 0 });
    const clients = localClients(local, spec.fetch);
    const { keys } = clients;
    openai = clients.openai(keys.developer);
    other = clients.openai(keys.enterprise);
    free = clients.openai(keys.free);
    groq = clients.groq(keys.developer);
  });
  afterAll(() => local.stop());

  const upload = async (lines: string[], client: OpenAI = openai) =>
    client.files.create({
      file: await toFile(Buffer.from(`${lines.join('\n')}\n`), 'batch.jsonl'),
      purpose: 'batch',
    });

  it('runs a batch: create, poll until completed, read every output line; a bad line goes to the error file', async () => {
    const lines = Array.from({ length: 45 }, (_, i) => line(`req-${i}`, `hello number ${i}`));
    lines.push(line('bad-model', 'x', { model: 'qwen3-32b' })); // not on the developer tier
    const input = await upload(lines);
    const created = await openai.batches.create({
      input_file_id: input.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      metadata: { job: 'e2e' },
    });
    expectMatchesSpec('Batch', created);
    expect(created).toMatchObject({
      object: 'batch',
      status: 'validating',
      input_file_id: input.id,
      metadata: { job: 'e2e' },
    });

    const done = await until(
      () => openai.batches.retrieve(created.id),
      (b) => b.status === 'completed',
    );
    expectMatchesSpec('Batch', done);
    expect(done.status).toBe('completed');
    expect(done.request_counts).toEqual({ total: 46, completed: 45, failed: 1 });
    for (const at of ['in_progress_at', 'finalizing_at', 'completed_at'] as const)
      expect(done[at]).toEqual(expect.any(Number));

    const output = (await (await openai.files.content(done.output_file_id as string)).text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(output).toHaveLength(45);
    expect(new Set(output.map((o) => o.custom_id)).size).toBe(45);
    for (const o of output) {
      expect(o.response.status_code).toBe(200);
      expect(o.error).toBeNull();
      expectMatchesSpec('CreateChatCompletionResponse', o.response.body);
      expect(o.response.body.choices[0].message.content).toContain(
        `hello number ${o.custom_id.slice(4)}`,
      );
    }
    const errors = (await (await openai.files.content(done.error_file_id as string)).text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(errors).toEqual([
      expect.objectContaining({
        custom_id: 'bad-model',
        response: expect.objectContaining({
          status_code: 403,
          body: { error: expect.objectContaining({ code: 'model_not_available_on_tier' }) },
        }),
      }),
    ]);

    // The output files are the customer's: listed with purpose batch_output, 404 to anyone else.
    const outputs = await openai.files.list({ purpose: 'batch_output' });
    expect(outputs.data.map((f) => f.id)).toEqual(
      expect.arrayContaining([done.output_file_id, done.error_file_id]),
    );
    for (const call of [
      () => other.batches.retrieve(created.id),
      () => other.batches.cancel(created.id),
      () => other.files.retrieve(done.output_file_id as string),
      () => other.files.content(done.output_file_id as string),
      () => other.files.retrieve(done.error_file_id as string),
      () => other.files.content(done.error_file_id as string),
      () => other.files.retrieve(input.id),
    ]) {
      await expect(call()).rejects.toMatchObject({ status: 404 });
    }
    expect((await other.batches.list()).data.map((b) => b.id)).not.toContain(created.id);

    const listed = await openai.batches.list({ limit: 100 });
    expect(listed.data.map((b) => b.id)).toContain(created.id);
  });

  it('runs /v1/responses lines at the batch discount, each output a Response object', async () => {
    const responsesLine = (customId: string, body: Record<string, unknown>) =>
      JSON.stringify({
        custom_id: customId,
        method: 'POST',
        url: '/v1/responses',
        body: { model: MODEL, max_output_tokens: 200, ...body },
      });
    const input = await upload([
      responsesLine('plain', { input: 'hello responses', instructions: 'Be brief.' }),
      responsesLine('items', {
        input: [{ role: 'user', content: [{ type: 'input_text', text: 'hello items' }] }],
        metadata: { n: '2' },
      }),
      responsesLine('continued', { input: 'x', previous_response_id: 'resp_0123' }),
      responsesLine('chat-shaped', { messages: [{ role: 'user', content: 'x' }] }),
    ]);
    const created = await openai.batches.create({
      input_file_id: input.id,
      endpoint: '/v1/responses',
      completion_window: '24h',
    });
    expect(created.endpoint).toBe('/v1/responses');
    const done = await until(
      () => openai.batches.retrieve(created.id),
      (b) => b.status === 'completed',
    );
    expect(done.request_counts).toEqual({ total: 4, completed: 2, failed: 2 });

    const output = (await (await openai.files.content(done.output_file_id as string)).text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(output.map((o) => o.custom_id).sort()).toEqual(['items', 'plain']);
    for (const o of output) {
      expectMatchesSpec('Response', o.response.body);
      expect(o.response.body).toMatchObject({ object: 'response', status: 'completed' });
      expect(o.response.body.output[0].content[0].text).toContain(
        `hello ${o.custom_id === 'plain' ? 'responses' : 'items'}`,
      );
    }
    expect(output.find((o) => o.custom_id === 'items').response.body.metadata).toEqual({ n: '2' });

    // Billed through the ledger with the tier's batch discount, as chat lines are.
    const doc = localModeDocumentClient(local.dynamoEndpoint);
    try {
      const { Item } = await doc.send(
        new GetCommand({
          TableName: LOCAL_METERING_TABLE,
          Key: { pk: `REQ#${lineRequestId(created.id, 'plain')}`, sk: 'REQ' },
        }),
      );
      const body = output.find((o) => o.custom_id === 'plain').response.body;
      expect(Item).toMatchObject({
        batch: true,
        discountPercent: config.tiers.developer.batch.discountPercent,
        inputTokens: body.usage.input_tokens,
        outputTokens: body.usage.output_tokens,
      });
      expect(config.tiers.developer.batch.discountPercent).toBeGreaterThan(0);
    } finally {
      doc.destroy();
    }

    const errors = (await (await openai.files.content(done.error_file_id as string)).text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const paramOf = (id: string) =>
      errors.find((e) => e.custom_id === id)?.response.body.error.param;
    expect(paramOf('continued')).toBe('previous_response_id');
    // A chat body on the Responses endpoint: its missing 'input' is named.
    expect(paramOf('chat-shaped')).toBe('input');
  });

  it('fails a file that cannot run, naming its lines', async () => {
    const input = await upload([
      line('a', 'x'),
      JSON.stringify({ custom_id: 'a', method: 'GET', url: '/v1/chat/completions', body: {} }),
      line('a', 'y'),
    ]);
    const created = await openai.batches.create({
      input_file_id: input.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const failed = await until(
      () => openai.batches.retrieve(created.id),
      (b) => b.status === 'failed',
    );
    expectMatchesSpec('Batch', failed);
    expect(failed.status).toBe('failed');
    expect(failed.errors?.data).toEqual([
      expect.objectContaining({ code: 'invalid_method', line: 2 }),
      expect.objectContaining({ code: 'duplicate_custom_id', line: 3 }),
    ]);
  });

  it('answers 403 to the Free tier, naming the tiers that have batch', async () => {
    const error = await free.batches
      .create({
        input_file_id: 'file-x',
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      })
      .catch((e) => e);
    expect(error).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(error.error.message).toContain('Developer and Enterprise');
  });

  it('refuses bad requests with 400 naming the parameter', async () => {
    const input = await upload([line('a', 'x')]);
    const cases: [Record<string, unknown>, string][] = [
      [
        { input_file_id: input.id, endpoint: '/v1/embeddings', completion_window: '24h' },
        'endpoint',
      ],
      [
        { input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '8d' },
        'completion_window',
      ],
      [
        { input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '1h' },
        'completion_window',
      ],
      [{ endpoint: '/v1/chat/completions', completion_window: '24h' }, 'input_file_id'],
    ];
    for (const [body, param] of cases) {
      await expect(openai.batches.create(body as never)).rejects.toMatchObject({
        status: 400,
        error: { param },
      });
    }
    const theirs = await upload([line('a', 'x')], other);
    await expect(
      openai.batches.create({
        input_file_id: theirs.id,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      }),
    ).rejects.toMatchObject({ status: 404 });
    await expect(openai.batches.retrieve('batch_nope')).rejects.toMatchObject({ status: 404 });
  });

  it('works with groq-sdk: files.create, batches.create, retrieve until completed, content', async () => {
    const file = await groq.files.create({
      file: await groqToFile(Buffer.from(`${line('g-1', 'from groq')}\n`), 'g.jsonl'),
      purpose: 'batch',
    });
    const batch = await groq.batches.create({
      input_file_id: file.id as string,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const done = await until(
      () => groq.batches.retrieve(batch.id),
      (b) => b.status === 'completed',
    );
    expect(done.status).toBe('completed');
    const text = await (await groq.files.content(done.output_file_id as string)).text();
    expect(JSON.parse(text.trim())).toMatchObject({
      custom_id: 'g-1',
      response: { status_code: 200 },
    });
  });
});
