import OpenAI from 'openai';
import {
  type BackendChatRequest,
  BackendError,
} from '../../lambda/inference/backends/model-backend';
import { TestModelBackend } from '../../lambda/inference/backends/test-model-backend';
import { PromptTokenCounter } from '../../lambda/inference/prompt-tokens';
import { loadConfig } from '../../lib/config/load';
import { LOCAL_FILES_TABLE, type LocalMode, startLocalMode } from '../../local/local-mode';
import { expectSpecCompliance, specCheckedFetch } from '../support/spec-check';

/**
 * A stored response keeps its whole input 30 days; with `truncation: auto` the model saw, and the
 * customer paid for, only the newest turns. What was dropped counts against the organization's
 * storage quota (its files' quota): a Free customer cannot store past it, is refused before the
 * model runs, and gets the room back by deleting responses. The official openai client against
 * local mode, every body checked against OpenAI's schemas.
 */

const MODEL = 'qwen3-8b';
const WINDOW = 300;
/** Room for two dropped turns of {@link DROPPED_CHARS}, not three. */
const QUOTA = 45_000;
const DROPPED_CHARS = 20_000;
const config = loadConfig({
  env: 'dev',
  overrides: {
    models: { [MODEL]: { contextWindow: WINDOW, maxOutputTokens: 100 } },
    tiers: {
      free: {
        models: { [MODEL]: { rpm: 1_000, rpd: 10_000, tpm: 100_000, tpd: 1_000_000 } },
        edge: { rateLimit: 1_000, burstLimit: 1_000 },
        storageQuotaBytes: QUOTA,
      },
    },
  },
});
const counter = new PromptTokenCounter(config);

/** The test model, counting its calls (a refused request never reaches it), and down when told. */
class CountingBackend extends TestModelBackend {
  calls = 0;
  down = false;
  override complete(request: BackendChatRequest) {
    this.calls += 1;
    if (this.down) return Promise.reject(new BackendError('unavailable', 'down for the test'));
    return super.complete(request);
  }
  override async *stream(request: BackendChatRequest) {
    this.calls += 1;
    // As a real backend fails: at the first chunk.
    if (this.down) throw new BackendError('unavailable', 'down for the test');
    yield* super.stream(request);
  }
}

describe('stored responses and the storage quota (truncation: auto)', () => {
  const spec = specCheckedFetch();
  afterEach(() => expectSpecCompliance(spec));

  let local: LocalMode;
  const backend = new CountingBackend({
    replyTokens: 5,
    promptTokens: (model, messages) => counter.count(model, messages),
  });
  const freeClient = async (name: string) => {
    const { apiKey } = await local.operator.createCustomer({
      name,
      email: `${name}@stored-quota.test`,
      tier: 'free',
    });
    return new OpenAI({ apiKey, baseURL: local.openAIBaseUrl, maxRetries: 0, fetch: spec.fetch });
  };

  /** The files table's calls (command and sort key), as the DynamoDB client sends them. */
  const filesCalls: string[] = [];

  beforeAll(async () => {
    local = await startLocalMode({
      config,
      port: 0,
      backend,
      authorizerCacheTtlMs: 0,
      instrumentDynamo: (client) =>
        client.middlewareStack.add(
          (next, context) => async (args) => {
            // The document client's commands may reach here before their values are marshalled.
            const input = args.input as {
              TableName?: string;
              Key?: { sk?: unknown };
              Item?: { sk?: unknown };
            };
            const sortKey = input.Key?.sk ?? input.Item?.sk;
            const text = typeof sortKey === 'string' ? sortKey : (sortKey as { S?: string })?.S;
            if (input.TableName === LOCAL_FILES_TABLE)
              filesCalls.push(
                `${context.commandName} ${(text ?? '').replace(/resp_\w+/, 'resp_')}`,
              );
            return next(args);
          },
          { step: 'initialize' },
        ),
    });
  });
  afterAll(() => local.stop());

  /** An oldest turn far past the context window (dropped), then a question that fits. */
  const padded = (n: number) => [
    { role: 'user' as const, content: `Turn ${n}: ${'lorem '.repeat(DROPPED_CHARS / 6)}` },
    { role: 'user' as const, content: `Question ${n}?` },
  ];
  const request = (n: number) => ({
    model: MODEL,
    input: padded(n),
    truncation: 'auto' as const,
    max_output_tokens: 20,
  });
  const create = (openai: OpenAI, n: number, extra: { store?: false } = {}) =>
    openai.responses.create({ ...request(n), ...extra });
  const createStreamed = (openai: OpenAI, n: number) =>
    openai.responses.create({ ...request(n), stream: true });

  it('refuses a Free customer past its quota before the model runs, and deleting frees the room', async () => {
    const openai = await freeClient('hoarder');
    const first = await create(openai, 1);
    const second = await create(openai, 2);
    // OpenAI's input items: the whole input, the dropped turn too.
    const items = await openai.responses.inputItems.list(first.id, { order: 'asc' });
    expect(items.data).toHaveLength(2);

    const calls = backend.calls;
    for (const stream of [false, true]) {
      const refused = await (stream ? createStreamed(openai, 3) : create(openai, 3)).catch(
        (error: unknown) => error,
      );
      expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
      expect(refused).toMatchObject({
        status: 400,
        param: 'input',
        code: 'storage_quota_exceeded',
      });
      expect((refused as Error).message).toContain(`storage quota of ${QUOTA} bytes`);
    }
    // No tokens generated and then lost: the model never ran.
    expect(backend.calls).toBe(calls);

    // What is not kept, or not truncated, costs no storage.
    await create(openai, 4, { store: false });
    const small = await openai.responses.create({ model: MODEL, input: 'Hi', truncation: 'auto' });
    expect((await openai.responses.retrieve(small.id)).id).toBe(small.id);

    await openai.responses.delete(first.id);
    const third = await create(openai, 5);
    expect(third.status).toBe('completed');
    await expect(create(openai, 6)).rejects.toBeInstanceOf(OpenAI.BadRequestError);

    // Deleting twice frees once: the room is one response's.
    await openai.responses.delete(second.id);
    await expect(openai.responses.delete(second.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    for await (const _event of await createStreamed(openai, 7));
    await expect(create(openai, 8)).rejects.toBeInstanceOf(OpenAI.BadRequestError);
  });

  it('gives the room back when the model gives no answer: nothing was stored', async () => {
    const openai = await freeClient('unlucky');
    await create(openai, 1);
    backend.down = true;
    try {
      for (const attempt of [2, 3]) {
        const failed = await create(openai, attempt).catch((error: unknown) => error);
        expect(failed).toBeInstanceOf(OpenAI.APIError);
        expect((failed as InstanceType<typeof OpenAI.APIError>).status).toBe(503);
        await expect(createStreamed(openai, attempt)).rejects.toMatchObject({ status: 503 });
      }
    } finally {
      backend.down = false;
    }
    // Four failures later, the one response stored still leaves room for one more.
    await create(openai, 4);
    await expect(create(openai, 5)).rejects.toMatchObject({ code: 'storage_quota_exceeded' });
  });

  it('adds nothing to a response whose input fits: its store stays one PutItem', async () => {
    const openai = await freeClient('ordinary');
    filesCalls.length = 0;
    for await (const _event of await openai.responses.create({
      model: MODEL,
      input: 'Hi',
      truncation: 'auto',
      stream: true,
    }));
    await openai.responses.create({ model: MODEL, input: 'Hi again' });
    expect(filesCalls).toEqual(['PutItemCommand RESP#resp_', 'PutItemCommand RESP#resp_']);

    // A truncated one: counted before the model, kept with the response when it is stored.
    filesCalls.length = 0;
    await create(openai, 1);
    expect(filesCalls).toEqual([
      'PutItemCommand COUNTED#RESP#resp_',
      'UpdateItemCommand STORAGE',
      'UpdateItemCommand COUNTED#RESP#resp_',
      'PutItemCommand RESP#resp_',
    ]);
  });

  it('refuses an input item id or a text.format schema that would be stored past their bounds, naming it', async () => {
    const openai = await freeClient('oversized');
    const calls = backend.calls;
    const longId = await openai.responses
      .create({
        model: MODEL,
        input: [
          { role: 'user', content: 'Hi' },
          { type: 'reasoning', summary: [], id: `rs_${'x'.repeat(2_000)}` },
        ],
      })
      .catch((error: unknown) => error);
    expect(longId).toBeInstanceOf(OpenAI.BadRequestError);
    expect(longId).toMatchObject({
      status: 400,
      param: 'input[1].id',
      code: 'string_above_max_length',
    });

    const bigSchema = await openai.responses
      .create({
        model: MODEL,
        input: 'Hi',
        text: {
          format: {
            type: 'json_schema',
            name: 'answer',
            schema: { type: 'object', description: 'x'.repeat(600_000) },
          },
        },
      })
      .catch((error: unknown) => error);
    expect(bigSchema).toMatchObject({
      status: 400,
      param: 'text.format.schema',
      code: 'invalid_value',
    });
    expect(backend.calls).toBe(calls);
  });

  it('counts reasoning items sent back, never sent to the model, and gives them back on DELETE', async () => {
    const openai = await freeClient('reasoner');
    /** Reasoning items an earlier answer had, sent back: ~19 KB stored, room for two, not three. */
    const withReasoning = (n: number) =>
      openai.responses.create({
        model: MODEL,
        input: [
          ...Array.from({ length: 60 }, (_, i) => ({
            type: 'reasoning' as const,
            id: `rs_${n}_${i}_${'r'.repeat(240)}`,
            summary: [],
          })),
          { role: 'user' as const, content: `Question ${n}?` },
        ],
        max_output_tokens: 20,
      });
    filesCalls.length = 0;
    const first = await withReasoning(1);
    // Nothing was dropped (no truncation asked), yet the reasoning items are counted.
    expect(filesCalls).toEqual([
      'PutItemCommand COUNTED#RESP#resp_',
      'UpdateItemCommand STORAGE',
      'UpdateItemCommand COUNTED#RESP#resp_',
      'PutItemCommand RESP#resp_',
    ]);
    await withReasoning(2);
    const calls = backend.calls;
    await expect(withReasoning(3)).rejects.toMatchObject({
      status: 400,
      param: 'input',
      code: 'storage_quota_exceeded',
    });
    expect(backend.calls).toBe(calls);

    await openai.responses.delete(first.id);
    expect((await withReasoning(4)).status).toBe('completed');
    await expect(withReasoning(5)).rejects.toMatchObject({ code: 'storage_quota_exceeded' });
  });

  it('keeps one organization out, not another: each has its own quota', async () => {
    const full = await freeClient('full');
    await create(full, 1);
    await create(full, 2);
    await expect(create(full, 3)).rejects.toBeInstanceOf(OpenAI.BadRequestError);

    const other = await freeClient('roomy');
    expect((await create(other, 1)).status).toBe('completed');
  });
});
