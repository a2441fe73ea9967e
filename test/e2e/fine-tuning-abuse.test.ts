import { gzipSync } from 'node:zlib';
import { DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { toFile } from 'openai';
import { pack as tarPack } from 'tar-stream';
import type { JobLauncher } from '../../lambda/fine-tuning/job-launcher';
import type { JobRecord } from '../../lambda/fine-tuning/jobs';
import { loadConfig } from '../../lib/config/load';
import { LOCAL_FINE_TUNING_TABLE, type LocalMode, startLocalMode } from '../../local/local-mode';
import { adapterFiles, entriesOf, safetensors, tarGzOf, zipOf } from '../support/adapters';
import { adminKeys } from '../support/admin-keys';
import { localClients } from '../support/local-clients';
import { clearOfMinuteBoundary } from '../support/windows';

/**
 * The fine-tuning HTTP API against a hostile customer, in local mode, over real HTTP with the
 * official client and fetch: other customers' ids, malformed bodies and archives, races, retries
 * and crashes. A launcher that "starts" every job (and records what it was asked) stands in for
 * Step Functions, so jobs stay active and keep their spend hold, as in AWS.
 */
const config = loadConfig({ env: 'dev' });
const BASE = 'qwen3-8b';
const architecture = config.models[BASE]?.architecture;
if (!architecture) throw new Error('the base model has no architecture');

const conversation = (i: number) =>
  JSON.stringify({
    messages: [
      { role: 'user', content: `Say ${i}.` },
      { role: 'assistant', content: `${i}.` },
    ],
  });
const trainingJsonl = (n = 10) =>
  `${Array.from({ length: n }, (_, i) => conversation(i)).join('\n')}\n`;

const started: string[] = [];
const stopped: string[] = [];
const launcher: JobLauncher = {
  start: async (job: JobRecord) => {
    started.push(job.jobId);
    return { started: true };
  },
  stop: async (job: JobRecord) => {
    stopped.push(job.jobId);
  },
};

const tarGzRaw = async (
  entries: { name: string; type?: 'file' | 'symlink'; linkname?: string; data?: Buffer }[],
) => {
  const pack = tarPack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (c) => chunks.push(c as Buffer));
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  for (const e of entries) {
    if (e.type === 'symlink') pack.entry({ name: e.name, type: 'symlink', linkname: e.linkname });
    else pack.entry({ name: e.name }, e.data ?? Buffer.alloc(0));
  }
  pack.finalize();
  await done;
  return gzipSync(Buffer.concat(chunks));
};

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

describe('the fine-tuning API against a hostile customer', () => {
  let local: LocalMode;
  const keys: Record<string, string> = {};
  const ids: Record<string, string> = {};
  // Not spec-checked: the global fetch, as the client's default.
  const client = (who: string) => localClients(local, fetch).openai(keys[who] as string);
  const call = async (
    who: string,
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
    timeoutMs = 30_000,
  ) => {
    const response = await fetch(`${local.openAIBaseUrl}${path}`, {
      signal: AbortSignal.timeout(timeoutMs),
      method,
      headers: {
        authorization: `Bearer ${keys[who]}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = text;
    }
    return {
      status: response.status,
      json: json as Record<string, unknown> & ErrorBody,
      headers: response.headers,
    };
  };
  const upload = async (who: string, bytes: Buffer | string, name: string, purpose = 'fine-tune') =>
    (
      await client(who).files.create({
        file: await toFile(Buffer.from(bytes), name),
        purpose: purpose as 'fine-tune',
      })
    ).id;
  // Spend limits are read and set with an admin key: an inference key gets 403 there.
  const admin = adminKeys(() => local);
  const asAdmin = async (who: string) => {
    keys[`admin:${who}`] ??= await admin(ids[who] as string);
    return `admin:${who}`;
  };
  const spend = async (who: string) =>
    (await call(await asAdmin(who), 'GET', '/spend_limit')).json as unknown as {
      reserved_usd: string;
      spent_usd: string;
    };
  const setLimit = async (who: string, usd: number | null) => {
    const r = await call(await asAdmin(who), 'PUT', '/spend_limit', { monthly_limit_usd: usd });
    expect(r.status).toBe(200);
  };
  const expectOpenAIError = (r: { status: number; json: ErrorBody }, status: number) => {
    expect(r.status).toBe(status);
    expect(r.json.error).toEqual(
      expect.objectContaining({ message: expect.any(String), type: expect.any(String) }),
    );
    expect(Object.keys(r.json.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  };
  const register = async (who: string, fileId: string, name: string) =>
    call(who, 'POST', '/fine_tunings', {
      input_file_id: fileId,
      name,
      type: 'lora',
      base_model: BASE,
    });
  const adapterZip = async (options: Partial<Parameters<typeof adapterFiles>[0]> = {}) =>
    zipOf(entriesOf(adapterFiles({ architecture, baseModel: BASE, ...options })));

  beforeAll(async () => {
    local = await startLocalMode({
      config,
      port: 0,
      console: false,
      fineTuningLauncher: launcher,
      authorizerCacheTtlMs: 0,
    });
    for (const demo of local.demoCustomers) {
      keys[demo.tier] = demo.apiKey;
      ids[demo.tier] = demo.customerId;
    }
    // More Developer customers, so each money test starts from a clean month.
    for (const name of ['rich', 'racer', 'retry', 'canceller', 'victim', 'attacker']) {
      const created = await local.operator.createCustomer({
        name,
        email: `${name}@abuse.test`,
        tier: 'developer',
      });
      keys[name] = created.apiKey as string;
      ids[name] = created.customer.customerId;
    }
  }, 120_000);
  afterAll(() => local.stop());

  // ---------------------------------------------------------------- another customer's ids

  it("another customer's job id is 404 on retrieve, events, checkpoints and cancel, and never reaches the launcher", async () => {
    const file = await upload('victim', trainingJsonl(), 't.jsonl');
    const job = await client('victim').fineTuning.jobs.create({ model: BASE, training_file: file });
    expect(job.status).toBe('validating_files');
    const stopsBefore = stopped.length;
    for (const [method, path] of [
      ['GET', `/fine_tuning/jobs/${job.id}`],
      ['GET', `/fine_tuning/jobs/${job.id}/events`],
      ['GET', `/fine_tuning/jobs/${job.id}/checkpoints`],
      ['POST', `/fine_tuning/jobs/${job.id}/cancel`],
    ] as const) {
      const r = await call('attacker', method, path);
      expectOpenAIError(r, 404);
    }
    // `after` = another customer's job id is no cursor either.
    expectOpenAIError(await call('attacker', 'GET', `/fine_tuning/jobs?after=${job.id}`), 400);
    expect(stopped.length).toBe(stopsBefore);
    expect((await client('victim').fineTuning.jobs.retrieve(job.id)).status).toBe(
      'validating_files',
    );
    await client('victim').fineTuning.jobs.cancel(job.id);
  });

  it("another customer's training_file / validation_file is 404 naming the parameter, and nothing is launched or held", async () => {
    const mine = await upload('attacker', trainingJsonl(), 'a.jsonl');
    const theirs = await upload('victim', trainingJsonl(), 'v.jsonl');
    const startsBefore = started.length;
    const a = await call('attacker', 'POST', '/fine_tuning/jobs', {
      model: BASE,
      training_file: theirs,
    });
    expectOpenAIError(a, 404);
    expect(a.json.error).toMatchObject({ code: 'file_not_found', param: 'training_file' });
    const b = await call('attacker', 'POST', '/fine_tuning/jobs', {
      model: BASE,
      training_file: mine,
      validation_file: theirs,
    });
    expectOpenAIError(b, 404);
    expect(b.json.error).toMatchObject({ code: 'file_not_found', param: 'validation_file' });
    expect(started.length).toBe(startsBefore);
    expect(await spend('attacker')).toMatchObject({ reserved_usd: '0.000000' });
  });

  it("another customer's fine_tuning id, ft: model and adapter file are 404 on every route, and chat never reaches a backend", async () => {
    const victimFile = await upload('victim', await adapterZip(), 'adapter.zip');
    const registered = await register('victim', victimFile, 'secret-bot');
    expect(registered.status).toBe(200);
    const ftune = registered.json.id as unknown as string;
    const modelId = (registered.json.data as unknown as { fine_tuned_model: string })
      .fine_tuned_model;

    expectOpenAIError(await call('attacker', 'GET', `/fine_tunings/${ftune}`), 404);
    expectOpenAIError(await call('attacker', 'DELETE', `/fine_tunings/${ftune}`), 404);
    expectOpenAIError(await call('attacker', 'GET', `/models/${modelId}`), 404);
    expectOpenAIError(await call('attacker', 'DELETE', `/models/${modelId}`), 404);
    const chat = await call('attacker', 'POST', '/chat/completions', {
      model: modelId,
      messages: [{ role: 'user', content: 'hello' }],
    });
    expectOpenAIError(chat, 404);
    expect(chat.json.error.code).toBe('model_not_found');
    // Registering on top of their file.
    const onTop = await register('attacker', victimFile, 'stolen');
    expectOpenAIError(onTop, 404);
    expect(onTop.json.error.param).toBe('input_file_id');
    // A guessed id built from the victim's customer id, and the victim's id with the attacker's
    // customer id.
    const guessed = `ft:${BASE}:${ids.victim}:secret-bot:AAAAAAAAAAAAAAAAAAAAAA`;
    expectOpenAIError(
      await call('attacker', 'POST', '/chat/completions', {
        model: guessed,
        messages: [{ role: 'user', content: 'x' }],
      }),
      404,
    );
    const swapped = modelId.replace(ids.victim as string, ids.attacker as string);
    expectOpenAIError(
      await call('attacker', 'POST', '/chat/completions', {
        model: swapped,
        messages: [{ role: 'user', content: 'x' }],
      }),
      404,
    );
    // Not listed for the attacker.
    const listed = (await client('attacker').models.list()).data.map((m) => m.id);
    expect(listed).not.toContain(modelId);
    // The victim still has it, and it serves.
    const own = await client('victim').chat.completions.create({
      model: modelId,
      messages: [{ role: 'user', content: 'hello' }],
    });
    expect(own.choices[0]?.message.content).toMatch(/Served by adapter/);
  });

  it("a batch line naming another customer's ft: model is refused and never served by its adapter", async () => {
    const victimFile = await upload(
      'victim',
      await adapterZip({ rank: 8, alpha: 16 }),
      'adapter2.zip',
    );
    const registered = await register('victim', victimFile, 'batch-target');
    expect(registered.status).toBe(200);
    const modelId = (registered.json.data as unknown as { fine_tuned_model: string })
      .fine_tuned_model;
    const line = JSON.stringify({
      custom_id: 'steal',
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: modelId, messages: [{ role: 'user', content: 'hello' }] },
    });
    const input = await upload('attacker', `${line}\n`, 'batch.jsonl', 'batch');
    const created = await call('attacker', 'POST', '/batches', {
      input_file_id: input,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    expect(created.status).toBe(200);
    await local.batchQueue.idle();
    const batch = (await call('attacker', 'GET', `/batches/${created.json.id}`))
      .json as unknown as {
      output_file_id: string | null;
      error_file_id: string | null;
    };
    if (batch.output_file_id) {
      const out = await (await client('attacker').files.content(batch.output_file_id)).text();
      expect(out).not.toMatch(/Served by adapter/);
    }
    expect(batch.error_file_id).toEqual(expect.any(String));
    const errors = await (
      await client('attacker').files.content(batch.error_file_id as string)
    ).text();
    expect(JSON.parse(errors.trim())).toMatchObject({
      custom_id: 'steal',
      response: { status_code: 404, body: { error: { code: 'model_not_found' } } },
    });
  }, 60_000);

  // ---------------------------------------------------------------- bad input

  it("wrong types, bad hyperparameters, odd suffixes, big metadata and unknown fields are 400s in OpenAI's shape", async () => {
    const file = await upload('rich', trainingJsonl(), 't.jsonl');
    const base = { model: BASE, training_file: file };
    const bad: unknown[] = [
      { ...base, model: 42 },
      { ...base, model: `ft:${BASE}:x:y:z` },
      { ...base, training_file: 42 },
      { ...base, training_file: ['file-x'] },
      { ...base, validation_file: 7 },
      { ...base, suffix: 'a:b' },
      { ...base, suffix: 'x'.repeat(65) },
      { ...base, suffix: '../../etc' },
      { ...base, suffix: 'naïve' },
      { ...base, suffix: '' },
      { ...base, suffix: 'a\nb' },
      { ...base, seed: -1 },
      { ...base, seed: 1.5 },
      { ...base, seed: 2 ** 31 },
      { ...base, seed: '1' },
      {
        ...base,
        metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])),
      },
      { ...base, metadata: { k: 'v'.repeat(513) } },
      { ...base, metadata: { ['k'.repeat(65)]: 'v' } },
      { ...base, metadata: { k: 1 } },
      { ...base, metadata: 'x' },
      { ...base, integrations: [{ type: 'wandb', wandb: { project: 'p' } }] },
      { ...base, unknown_field: 1 },
      { ...base, hyperparameters: { n_epochs: 0 } },
      { ...base, hyperparameters: { n_epochs: -3 } },
      { ...base, hyperparameters: { n_epochs: 1.5 } },
      { ...base, hyperparameters: { n_epochs: 1e308 } },
      { ...base, hyperparameters: { n_epochs: 'NaN' } },
      { ...base, hyperparameters: { n_epochs: null, batch_size: 0 } },
      { ...base, hyperparameters: { batch_size: 257 } },
      { ...base, hyperparameters: { learning_rate_multiplier: 0 } },
      { ...base, hyperparameters: { learning_rate_multiplier: -1 } },
      { ...base, hyperparameters: { learning_rate_multiplier: 11 } },
      { ...base, hyperparameters: { learning_rate_multiplier: 'Infinity' } },
      { ...base, hyperparameters: { warmup: 1 } },
      { ...base, hyperparameters: [] },
      { ...base, method: { type: 'dpo' } },
      { ...base, method: { type: 'supervised', supervised: { hyperparameters: { n_epochs: 0 } } } },
      { ...base, method: { type: 'supervised', supervised: 'x' } },
      { ...base, method: 'supervised' },
      {
        ...base,
        method: { type: 'supervised', supervised: { hyperparameters: { n_epochs: 2 } } },
        hyperparameters: { n_epochs: 2 },
      },
      { ...base, lora: { rank: 7 } },
      { ...base, lora: { rank: 1e9 } },
      { ...base, lora: { alpha: 0 } },
      { ...base, lora: { alpha: -1 } },
      { ...base, lora: { target_modules: [] } },
      { ...base, lora: { target_modules: ['lm_head'] } },
      { ...base, lora: { dropout: 0.1 } },
      { ...base, lora: 'big' },
    ];
    const failures: string[] = [];
    for (const body of bad) {
      const r = await call('rich', 'POST', '/fine_tuning/jobs', body);
      if (r.status !== 400 || typeof r.json?.error?.message !== 'string')
        failures.push(
          `${JSON.stringify(body).slice(0, 160)} -> ${r.status} ${JSON.stringify(r.json).slice(0, 200)}`,
        );
    }
    for (const raw of ['[]', 'null', '"x"', '{', 'not json', '1']) {
      const r = await call('rich', 'POST', '/fine_tuning/jobs', raw);
      if (r.status !== 400) failures.push(`raw ${raw} -> ${r.status}`);
    }
    expect(failures).toEqual([]);
    expect(await spend('rich')).toMatchObject({ reserved_usd: '0.000000' });
  }, 60_000);

  it('malformed limit / after cursors are 400, never 5xx', async () => {
    const failures: string[] = [];
    for (const query of [
      'limit=0',
      'limit=101',
      'limit=-1',
      'limit=abc',
      'limit=1.5',
      'limit=NaN',
      'limit=1e3',
      `after=${'a'.repeat(500)}`,
      'after=..%2F..%2Fetc',
      'after=%00',
      'after=ftjob-doesnotexist',
      'after=ftjob-%27%22',
    ]) {
      const r = await call('rich', 'GET', `/fine_tuning/jobs?${query}`);
      if (r.status !== 400) failures.push(`jobs?${query} -> ${r.status}`);
    }
    for (const query of ['limit=0', 'limit=1000', `after=${'a'.repeat(500)}`]) {
      for (const what of ['events', 'checkpoints']) {
        const r = await call('rich', 'GET', `/fine_tuning/jobs/ftjob-nope/${what}?${query}`);
        if (r.status >= 500) failures.push(`${what}?${query} -> ${r.status}`);
      }
    }
    for (const id of ['x'.repeat(2000), '..%2F..', 'ftjob-%00', `ftjob-${'a'.repeat(200)}`]) {
      const r = await call('rich', 'GET', `/fine_tuning/jobs/${id}`);
      if (r.status !== 404) failures.push(`jobs/${id.slice(0, 20)} -> ${r.status}`);
    }
    for (const id of [`ftune_${'a'.repeat(300)}`, 'ftune_%2E%2E', 'nope', 'ftune_']) {
      const r = await call('rich', 'GET', `/fine_tunings/${id}`);
      if (r.status !== 404) failures.push(`fine_tunings/${id.slice(0, 20)} -> ${r.status}`);
    }
    for (const id of ['ft:', 'ft:::::', `ft:${BASE}:%00:a:b`, `ft:${'x'.repeat(500)}`]) {
      const r = await call('rich', 'GET', `/models/${id}`);
      if (r.status !== 404) failures.push(`models/${id.slice(0, 20)} -> ${r.status}`);
      const chat = await call('rich', 'POST', '/chat/completions', {
        model: decodeURIComponent(id),
        messages: [{ role: 'user', content: 'x' }],
      });
      if (chat.status !== 404) failures.push(`chat ${id.slice(0, 20)} -> ${chat.status}`);
    }
    expect(failures).toEqual([]);
  }, 60_000);

  it('a very long ft: model id (3,000 characters) is a 404 on GET/DELETE /v1/models/{id} and chat, streamed or not', async () => {
    // Sent as the DynamoDB key, an id over 2,048 bytes is DynamoDB's ValidationException, a 500:
    // the id's shape and length are checked before any read (adapters-service.ts get/delete,
    // model-resolver.ts resolve).
    const id = `ft:${'x'.repeat(3000)}`;
    const failures: string[] = [];
    const get = await call('rich', 'GET', `/models/${id}`);
    if (get.status !== 404) failures.push(`GET -> ${get.status}`);
    const del = await call('rich', 'DELETE', `/models/${id}`);
    if (del.status !== 404) failures.push(`DELETE -> ${del.status}`);
    const chat = await call('rich', 'POST', '/chat/completions', {
      model: id,
      messages: [{ role: 'user', content: 'x' }],
    });
    if (chat.status !== 404) failures.push(`chat -> ${chat.status}`);
    const stream = await call('rich', 'POST', '/chat/completions', {
      model: id,
      stream: true,
      messages: [{ role: 'user', content: 'x' }],
    });
    if (stream.status !== 404) failures.push(`stream -> ${stream.status}`);
    expect(failures).toEqual([]);
  });

  it('training files that are not chat JSONL (a zip, binary, too few lines, wrong roles) are 400 invalid_training_file', async () => {
    const failures: string[] = [];
    const files: [string, Buffer | string][] = [
      ['adapter.zip', await adapterZip()],
      ['bin.jsonl', Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x0a])],
      ['few.jsonl', trainingJsonl(3)],
      ['roles.jsonl', trainingJsonl(10).replace(/"user"/g, '"tool"')],
      ['noassistant.jsonl', trainingJsonl(10).replace(/"assistant"/g, '"user"')],
      ['notjson.jsonl', `${'hello\n'.repeat(20)}`],
      [
        'proto.jsonl',
        `${Array.from({ length: 12 }, () => '{"__proto__":{"messages":[]}}').join('\n')}\n`,
      ],
    ];
    for (const [name, bytes] of files) {
      const id = await upload('rich', bytes, name).catch(() => undefined);
      if (!id) continue; // the upload itself refused it: fine
      const r = await call('rich', 'POST', '/fine_tuning/jobs', { model: BASE, training_file: id });
      if (r.status !== 400)
        failures.push(`${name} -> ${r.status} ${JSON.stringify(r.json).slice(0, 200)}`);
    }
    expect(failures).toEqual([]);
  }, 60_000);

  it('bad adapters (non-archive, wrong rank, wrong shapes, traversal names, symlinks, zip bomb config) are 400 naming input_file_id', async () => {
    const good = adapterFiles({ architecture, baseModel: BASE });
    const wrongShapes = safetensors({
      'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight': ['BF16', [16, 17]],
      'base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight': ['BF16', [19, 16]],
    });
    const cases: [string, Buffer][] = [
      ['jsonl', Buffer.from(trainingJsonl())],
      ['rank 7', await adapterZip({ rank: 7 })],
      ['rank 4096', await adapterZip({ rank: 4096, layers: 1, modules: ['q_proj'] })],
      ['alpha 0', await adapterZip({ alpha: 0 })],
      ['lm_head', await adapterZip({ modules: ['lm_head'] })],
      [
        'layers past the base',
        await adapterZip({ layers: (architecture.layers ?? 32) + 1, modules: ['q_proj'] }),
      ],
      ['F64', await adapterZip({ dtype: 'F64' })],
      [
        'wrong shapes',
        await zipOf({
          'adapter_config.json': JSON.stringify(good.config),
          'adapter_model.safetensors': wrongShapes,
        }),
      ],
      [
        'traversal zip',
        // yazl refuses '../' names: build 'aaaaaa/...' and rename in place (the CRC covers the
        // data, not the name).
        Buffer.from(
          (
            await zipOf({
              'aaaaaa/adapter_config.json': JSON.stringify(good.config),
              'aaaaaa/adapter_model.safetensors': good.weights,
            })
          )
            .toString('latin1')
            .replaceAll('aaaaaa/', '../../'),
          'latin1',
        ),
      ],
      [
        'absolute zip',
        Buffer.from(
          (
            await zipOf({
              'aaaa/adapter_config.json': JSON.stringify(good.config),
              'aaaa/adapter_model.safetensors': good.weights,
            })
          )
            .toString('latin1')
            .replaceAll('aaaa/', '/tmp/'),
          'latin1',
        ),
      ],
      [
        'symlink tar',
        await tarGzRaw([
          { name: 'adapter_config.json', data: Buffer.from(JSON.stringify(good.config)) },
          { name: 'adapter_model.safetensors', type: 'symlink', linkname: '/etc/passwd' },
        ]),
      ],
      [
        'zip bomb config',
        await zipOf({
          'adapter_config.json': Buffer.alloc(8 * 1024 * 1024, 0x20),
          'adapter_model.safetensors': good.weights,
        }),
      ],
      [
        'huge safetensors header length',
        await tarGzOf({
          'adapter_config.json': JSON.stringify(good.config),
          'adapter_model.safetensors': Buffer.concat([
            Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]),
            Buffer.from('{}'),
          ]),
        }),
      ],
      ['truncated gzip', (await tarGzOf(entriesOf(good))).subarray(0, 100)],
      ['empty zip', await zipOf({})],
      [
        'config not json',
        await zipOf({ 'adapter_config.json': '{nope', 'adapter_model.safetensors': good.weights }),
      ],
    ];
    const failures: string[] = [];
    let n = 0;
    for (const [what, bytes] of cases) {
      const id = await upload('rich', bytes, `bad-${n}.zip`).catch(() => undefined);
      n += 1;
      if (!id) continue;
      const t0 = Date.now();
      const r = await call(
        'rich',
        'POST',
        '/fine_tunings',
        { input_file_id: id, name: `bad-${n}`, type: 'lora', base_model: BASE },
        {},
        8_000,
      ).catch((e: Error) => ({
        status: -1,
        json: { error: { param: e.name } } as unknown as ErrorBody,
      }));
      if (r.status !== 400 || r.json?.error?.param !== 'input_file_id')
        failures.push(
          `${what} -> ${r.status} after ${Date.now() - t0} ms ${JSON.stringify(r.json).slice(0, 200)}`,
        );
    }
    expect(failures).toEqual([]);
    expect(
      ((await call('rich', 'GET', '/fine_tunings')).json.data as unknown as unknown[]).length,
    ).toBe(0);
  }, 200_000);

  it('a tar.gz adapter holding another file of some size (a 256 KiB README.md) registers; one with ../ names is a 400', async () => {
    // tar-stream yields the next entry only once the current one is read through: an unread entry
    // that is neither adapter file would hang the request (in AWS: API Gateway's 29 s 504 and a
    // Lambda busy to its timeout). PEFT's save_pretrained writes a README.md next to the two files.
    const good = adapterFiles({ architecture, baseModel: BASE });
    const withReadme = await tarGzRaw([
      { name: 'README.md', data: Buffer.alloc(256 * 1024, 0x61) },
      { name: 'adapter_config.json', data: Buffer.from(JSON.stringify(good.config)) },
      { name: 'adapter_model.safetensors', data: good.weights },
    ]);
    const traversal = await tarGzRaw([
      { name: '../../adapter_config.json', data: Buffer.from(JSON.stringify(good.config)) },
      { name: '../../adapter_model.safetensors', data: good.weights },
    ]);
    const answers: string[] = [];
    for (const [what, bytes] of [
      ['readme', withReadme],
      ['traversal', traversal],
    ] as const) {
      const id = await upload('rich', bytes, `${what}.tar.gz`);
      const r = await call(
        'rich',
        'POST',
        '/fine_tunings',
        { input_file_id: id, name: `tar-${what}`, type: 'lora', base_model: BASE },
        {},
        8_000,
      ).catch((e: Error) => ({ status: e.name, json: {} as ErrorBody }));
      answers.push(`${what} -> ${r.status}`);
    }
    // The README is ignored (registered), the ../ names are a 400 about input_file_id.
    expect(answers).toEqual(['readme -> 200', 'traversal -> 400']);
  }, 60_000);

  it('bad registration fields (name with ":" or too long, type, unknown field, wrong types, unknown base) are 400', async () => {
    const id = await upload('rich', await adapterZip(), 'ok.zip');
    const good = { input_file_id: id, name: 'ok', type: 'lora', base_model: BASE };
    const failures: string[] = [];
    for (const body of [
      { ...good, name: 'a:b' },
      { ...good, name: 'x'.repeat(65) },
      { ...good, name: '../x' },
      { ...good, name: '' },
      { ...good, name: 5 },
      { ...good, type: 'full' },
      { ...good, base_model: 'gpt-9' },
      { ...good, base_model: `ft:${BASE}:a:b:c` },
      { ...good, input_file_id: 5 },
      { ...good, extra: true },
    ]) {
      const r = await call('rich', 'POST', '/fine_tunings', body);
      if (r.status < 400 || r.status >= 500 || typeof r.json?.error?.message !== 'string')
        failures.push(`${JSON.stringify(body).slice(0, 120)} -> ${r.status}`);
    }
    expect(failures).toEqual([]);
  });

  // ---------------------------------------------------------------- tiers

  it('the Free tier gets 403 naming the tier for jobs and adapter registration', async () => {
    const file = await upload('free', trainingJsonl(), 'f.jsonl');
    const job = await call('free', 'POST', '/fine_tuning/jobs', {
      model: BASE,
      training_file: file,
    });
    expectOpenAIError(job, 403);
    expect(job.json.error.code).toBe('fine_tuning_not_available_on_tier');
    expect(job.json.error.message).toMatch(/Free/);
    const adapter = await upload('free', await adapterZip(), 'a.zip');
    const reg = await register('free', adapter, 'free-bot');
    expectOpenAIError(reg, 403);
    expect(reg.json.error.code).toBe('lora_not_available_on_tier');
    expect(reg.json.error.message).toMatch(/free/i);
  });

  // ---------------------------------------------------------------- money

  it('a job whose estimate exceeds the spend limit is 429 insufficient_quota before anything is launched', async () => {
    await setLimit('rich', 0.000001);
    const file = await upload('rich', trainingJsonl(), 'money.jsonl');
    const startsBefore = started.length;
    const r = await call('rich', 'POST', '/fine_tuning/jobs', { model: BASE, training_file: file });
    expectOpenAIError(r, 429);
    expect(r.json.error.code).toBe('insufficient_quota');
    expect(r.headers.get('x-should-retry')).toBe('false');
    expect(started.length).toBe(startsBefore);
    expect(await spend('rich')).toMatchObject({ reserved_usd: '0.000000' });
    await setLimit('rich', null);
  });

  it('5 concurrent creates that each fit alone but not together are not all admitted', async () => {
    const file = await upload('racer', trainingJsonl(), 'race.jsonl');
    // One job's estimate, measured on a probe job that is cancelled (its hold released).
    const probe = await client('racer').fineTuning.jobs.create({
      model: BASE,
      training_file: file,
    });
    const estimate = Number(
      (probe as unknown as { estimated_cost_usd: string }).estimated_cost_usd,
    );
    expect(estimate).toBeGreaterThan(0);
    await client('racer').fineTuning.jobs.cancel(probe.id);
    expect(await spend('racer')).toMatchObject({ reserved_usd: '0.000000' });
    // Room for two jobs and a half.
    await setLimit('racer', Number((estimate * 2.5).toFixed(6)));
    // The five in one UTC month (it ends on a minute's end): one month's limit holds them all.
    await clearOfMinuteBoundary(10_000);
    const results = await Promise.all(
      Array.from({ length: 5 }, () =>
        call('racer', 'POST', '/fine_tuning/jobs', { model: BASE, training_file: file }),
      ),
    );
    const admitted = results.filter((r) => r.status === 200);
    expect(results.every((r) => r.status === 200 || r.status === 429)).toBe(true);
    expect(admitted.length).toBe(2);
    expect(Number((await spend('racer')).reserved_usd)).toBeLessThanOrEqual(estimate * 2.5 + 1e-6);
  }, 60_000);

  it('a retried create (same Idempotency-Key, as the official client sends on retry) answers the same job and holds once', async () => {
    // openai-node sends an Idempotency-Key with every POST, the same on its automatic retries after
    // a timeout: without reading it, a retry would reserve the estimate again and launch a second
    // training.
    const file = await upload('retry', trainingJsonl(), 'retry.jsonl');
    const headers = { 'idempotency-key': 'stainless-node-retry-1' };
    const body = { model: BASE, training_file: file, suffix: 'retry' };
    const first = await call('retry', 'POST', '/fine_tuning/jobs', body, headers);
    const second = await call('retry', 'POST', '/fine_tuning/jobs', body, headers);
    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    const estimate = Number(first.json.estimated_cost_usd);
    const jobs = (await client('retry').fineTuning.jobs.list()).data;
    // The retry answers the same job, and only one estimate is held.
    expect(second.json.id).toBe(first.json.id);
    expect(jobs.length).toBe(1);
    expect(Number((await spend('retry')).reserved_usd)).toBeCloseTo(estimate, 6);
  });

  it('cancel twice releases the hold once; cancel of a finished (failed) job is 400 invalid_state', async () => {
    const file = await upload('canceller', trainingJsonl(), 'c.jsonl');
    const a = await client('canceller').fineTuning.jobs.create({
      model: BASE,
      training_file: file,
    });
    const b = await client('canceller').fineTuning.jobs.create({
      model: BASE,
      training_file: file,
    });
    const estimate = Number((a as unknown as { estimated_cost_usd: string }).estimated_cost_usd);
    expect(Number((await spend('canceller')).reserved_usd)).toBeCloseTo(2 * estimate, 6);
    expect((await client('canceller').fineTuning.jobs.cancel(a.id)).status).toBe('cancelled');
    expect((await client('canceller').fineTuning.jobs.cancel(a.id)).status).toBe('cancelled');
    await Promise.all([
      client('canceller').fineTuning.jobs.cancel(a.id),
      client('canceller').fineTuning.jobs.cancel(a.id),
    ]);
    // b's hold is still there: the repeated releases of a did not eat into it.
    expect(Number((await spend('canceller')).reserved_usd)).toBeCloseTo(estimate, 6);
    await client('canceller').fineTuning.jobs.cancel(b.id);
    expect(await spend('canceller')).toMatchObject({
      reserved_usd: '0.000000',
      spent_usd: '0.000000',
    });

    // A job that failed at launch cannot be cancelled.
    const failing: JobLauncher['start'] = launcher.start;
    launcher.start = async () => ({ started: false, code: 'boom', message: 'no trainer' });
    try {
      const c = await client('canceller').fineTuning.jobs.create({
        model: BASE,
        training_file: file,
      });
      expect(c.status).toBe('failed');
      const r = await call('canceller', 'POST', `/fine_tuning/jobs/${c.id}/cancel`);
      expectOpenAIError(r, 400);
      expect(r.json.error.code).toBe('invalid_state');
    } finally {
      launcher.start = failing;
    }
    expect(await spend('canceller')).toMatchObject({ reserved_usd: '0.000000' });
  });

  it('a launch that throws fails the job and gives its hold back', async () => {
    const file = await upload('canceller', trainingJsonl(), 'd.jsonl');
    const original = launcher.start;
    launcher.start = async () => {
      throw new Error('Step Functions is down');
    };
    try {
      const r = await call('canceller', 'POST', '/fine_tuning/jobs', {
        model: BASE,
        training_file: file,
      });
      expect(r.status).toBeGreaterThanOrEqual(500);
      expect(typeof r.json?.error?.message).toBe('string');
    } finally {
      launcher.start = original;
    }
    const jobs = (await client('canceller').fineTuning.jobs.list({ limit: 1 })).data;
    expect(jobs[0]?.status).toBe('failed');
    expect(await spend('canceller')).toMatchObject({ reserved_usd: '0.000000' });
  });

  // ---------------------------------------------------------------- deletion

  it('DELETE a model, then chat with it is 404 at once; deleting twice is 404; its fine_tuning is gone', async () => {
    const file = await upload('enterprise', await adapterZip(), 'del.zip');
    const registered = await register('enterprise', file, 'to-delete');
    expect(registered.status).toBe(200);
    const modelId = (registered.json.data as unknown as { fine_tuned_model: string })
      .fine_tuned_model;
    const ftune = registered.json.id as unknown as string;
    // Warm the resolver's cache.
    await client('enterprise').chat.completions.create({
      model: modelId,
      messages: [{ role: 'user', content: 'hi' }],
    });
    const del = await call('enterprise', 'DELETE', `/models/${modelId}`);
    expect(del.status).toBe(200);
    expect(del.json).toMatchObject({ id: modelId, object: 'model', deleted: true });
    const chat = await call('enterprise', 'POST', '/chat/completions', {
      model: modelId,
      messages: [{ role: 'user', content: 'hi' }],
    });
    expectOpenAIError(chat, 404);
    const stream = await call('enterprise', 'POST', '/chat/completions', {
      model: modelId,
      stream: true,
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(stream.status).toBe(404);
    expectOpenAIError(await call('enterprise', 'DELETE', `/models/${modelId}`), 404);
    expectOpenAIError(await call('enterprise', 'GET', `/fine_tunings/${ftune}`), 404);
    expectOpenAIError(await call('enterprise', 'DELETE', `/fine_tunings/${ftune}`), 404);
    expect((await client('enterprise').models.list()).data.map((m) => m.id)).not.toContain(modelId);
  });

  it('DELETE /v1/fine_tunings/{id} also stops chat at once (the cache is dropped)', async () => {
    const file = await upload('enterprise', await adapterZip(), 'del2.zip');
    const registered = await register('enterprise', file, 'to-delete-2');
    const modelId = (registered.json.data as unknown as { fine_tuned_model: string })
      .fine_tuned_model;
    await client('enterprise').chat.completions.create({
      model: modelId,
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect((await call('enterprise', 'DELETE', `/fine_tunings/${registered.json.id}`)).status).toBe(
      200,
    );
    const chat = await call('enterprise', 'POST', '/chat/completions', {
      model: modelId,
      messages: [{ role: 'user', content: 'hi' }],
    });
    expectOpenAIError(chat, 404);
  });

  it('after a crash part-way through DELETE (record left "deleting"), registering the same adapter again gives a model that serves, or a 4xx', async () => {
    // A `deleting` record is neither listed nor served: registering again must not hand it back as
    // a success.
    const file = await upload('enterprise', await adapterZip(), 'crash.zip');
    const registered = await register('enterprise', file, 'crashy');
    const modelId = (registered.json.data as unknown as { fine_tuned_model: string })
      .fine_tuned_model;
    const dynamo = new DynamoDBClient({
      endpoint: local.dynamoEndpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    });
    // The crash: DELETE marked the record deleting, then the process died before the component and
    // record went.
    await dynamo.send(
      new UpdateItemCommand({
        TableName: LOCAL_FINE_TUNING_TABLE,
        Key: { pk: { S: `MODEL#${modelId}` }, sk: { S: 'MODEL' } },
        UpdateExpression: 'SET #s = :d',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: { ':d': { S: 'deleting' } },
      }),
    );
    dynamo.destroy();
    const again = await register('enterprise', file, 'crashy');
    const status = (again.json.data as unknown as { status?: string } | undefined)?.status;
    // Either a usable model again (ready, and it serves) or an error saying to finish the delete.
    if (again.status === 200) {
      expect(status).toBe('ready');
      const chat = await call('enterprise', 'POST', '/chat/completions', {
        model: modelId,
        messages: [{ role: 'user', content: 'hi' }],
      });
      expect(chat.status).toBe(200);
    } else {
      expectOpenAIError(again, again.status);
      expect(again.status).toBeLessThan(500);
    }
  });

  it('a retried DELETE /v1/models/{id} finishes a delete that crashed after marking the record', async () => {
    const file = await upload('enterprise', await adapterZip(), 'crash2.zip');
    const registered = await register('enterprise', file, 'crashy-2');
    const modelId = (registered.json.data as unknown as { fine_tuned_model: string })
      .fine_tuned_model;
    const dynamo = new DynamoDBClient({
      endpoint: local.dynamoEndpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    });
    await dynamo.send(
      new UpdateItemCommand({
        TableName: LOCAL_FINE_TUNING_TABLE,
        Key: { pk: { S: `MODEL#${modelId}` }, sk: { S: 'MODEL' } },
        UpdateExpression: 'SET #s = :d',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: { ':d': { S: 'deleting' } },
      }),
    );
    dynamo.destroy();
    expectOpenAIError(
      await call('enterprise', 'POST', '/chat/completions', {
        model: modelId,
        messages: [{ role: 'user', content: 'x' }],
      }),
      404,
    );
    expect((await call('enterprise', 'DELETE', `/models/${modelId}`)).status).toBe(200);
    expectOpenAIError(await call('enterprise', 'DELETE', `/models/${modelId}`), 404);
  });

  it('two identical registrations at once, and two DELETEs at once, never answer a 5xx', async () => {
    const file = await upload('enterprise', await adapterZip(), 'race.zip');
    const [a, b] = await Promise.all([
      register('enterprise', file, 'racey'),
      register('enterprise', file, 'racey'),
    ]);
    expect([a.status, b.status].every((s) => s < 500)).toBe(true);
    const modelId = (
      (a.status === 200 ? a : b).json.data as unknown as { fine_tuned_model: string }
    ).fine_tuned_model;
    const [d1, d2] = await Promise.all([
      call('enterprise', 'DELETE', `/models/${modelId}`),
      call('enterprise', 'DELETE', `/models/${modelId}`),
    ]);
    // Both may answer deleted: true (each saw the record); what matters is no 5xx and the model is
    // gone.
    expect([d1.status, d2.status].every((s) => s === 200 || s === 404)).toBe(true);
    expectOpenAIError(await call('enterprise', 'GET', `/models/${modelId}`), 404);
  });

  it('a 7 MB JSON body on POST /v1/fine_tuning/jobs and /v1/fine_tunings is a 4xx, not a 5xx', async () => {
    const big = {
      model: BASE,
      training_file: 'file-x',
      metadata: { k: 'v'.repeat(7 * 1024 * 1024) },
    };
    const r1 = await call('rich', 'POST', '/fine_tuning/jobs', big);
    const r2 = await call('rich', 'POST', '/fine_tunings', { ...big, name: 'x' });
    expect(r1.status).toBeGreaterThanOrEqual(400);
    expect(r1.status).toBeLessThan(500);
    expect(r2.status).toBeGreaterThanOrEqual(400);
    expect(r2.status).toBeLessThan(500);
  });

  it('a base model cannot be deleted (400 model_not_deletable), an unknown one is 404', async () => {
    const r = await call('enterprise', 'DELETE', `/models/${BASE}`);
    expectOpenAIError(r, 400);
    expect(r.json.error.code).toBe('model_not_deletable');
    expectOpenAIError(await call('enterprise', 'DELETE', '/models/gpt-9'), 404);
  });
});
