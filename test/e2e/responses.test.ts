import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import OpenAI from 'openai';
import { TestModelBackend } from '../../lambda/inference/backends/test-model-backend';
import { PromptTokenCounter } from '../../lambda/inference/prompt-tokens';
import { loadConfig } from '../../lib/config/load';
import { LOCAL_METERING_TABLE, type LocalMode, startLocalMode } from '../../local/local-mode';
import { localModeDocumentClient } from '../support/dynalite';
import { expectSpecCompliance, specCheckedFetch } from '../support/spec-check';

/**
 * OpenAI's Responses API end to end: the official `openai` client against local mode (dynalite,
 * the test model), every body and streamed event checked against OpenAI's and Tierline's schemas.
 * Metered by the chat pipeline: the ledger record and the rate-limit headers are chat's.
 */

const MODEL = 'qwen3-8b';
const LIMITS = { rpm: 100, rpd: 1_000, tpm: 20_000, tpd: 100_000 };
const config = loadConfig({
  env: 'dev',
  overrides: {
    tiers: { free: { models: { [MODEL]: LIMITS }, edge: { rateLimit: 1_000, burstLimit: 1_000 } } },
  },
});
const counter = new PromptTokenCounter(config);

async function ledgerRecord(doc: DynamoDBDocumentClient, requestId: string) {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const { Item } = await doc.send(
      new GetCommand({
        TableName: LOCAL_METERING_TABLE,
        Key: { pk: `REQ#${requestId}`, sk: 'REQ' },
      }),
    );
    if (Item) return Item;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`no ledger record for ${requestId}`);
}

describe('Responses API with the official openai client', () => {
  const spec = specCheckedFetch();
  afterEach(() => expectSpecCompliance(spec));

  let local: LocalMode;
  let doc: DynamoDBDocumentClient;
  let openai: OpenAI;
  let other: OpenAI;

  beforeAll(async () => {
    local = await startLocalMode({
      config,
      port: 0,
      backend: new TestModelBackend({
        replyTokens: 12,
        tokensPerSecond: 500,
        promptTokens: (model, messages) => counter.count(model, messages),
      }),
      authorizerCacheTtlMs: 0,
    });
    doc = localModeDocumentClient(local.dynamoEndpoint);
    const client = async (name: string) => {
      const { apiKey } = await local.operator.createCustomer({
        name,
        email: `${name}@responses.test`,
        tier: 'free',
      });
      return new OpenAI({
        apiKey,
        baseURL: local.openAIBaseUrl,
        maxRetries: 0,
        fetch: spec.fetch,
      });
    };
    openai = await client('responses');
    other = await client('someone-else');
  });
  afterAll(async () => {
    doc.destroy();
    await local.stop();
  });

  it('creates a response, metered and billed as chat is', async () => {
    const { data: response, response: http } = await openai.responses
      .create({
        model: MODEL,
        instructions: 'Be brief.',
        input: 'Hello there',
        metadata: { topic: 'greeting' },
        service_tier: 'auto',
      })
      .withResponse();

    expect(response.object).toBe('response');
    expect(response.id).toMatch(/^resp_/);
    expect(response.status).toBe('completed');
    expect(response.model).toBe(MODEL);
    expect(response.instructions).toBe('Be brief.');
    expect(response.metadata).toEqual({ topic: 'greeting' });
    expect(response.service_tier).toBe('default');
    expect((response as unknown as { store: boolean }).store).toBe(true);
    expect(response.output_text).toContain('You said: "Hello there"');
    expect(response.usage?.input_tokens_details.cached_tokens).toBe(0);
    expect(response.usage?.output_tokens_details.reasoning_tokens).toBe(0);
    expect(http.headers.get('x-ratelimit-limit-requests')).toBe(String(LIMITS.rpd));
    expect(http.headers.get('x-ratelimit-remaining-requests')).toBeTruthy();

    const requestId = http.headers.get('x-request-id') as string;
    expect(response.id).toBe(`resp_${requestId.replace(/-/g, '')}`);
    const record = await ledgerRecord(doc, requestId);
    expect(record).toMatchObject({
      model: MODEL,
      status: 'completed',
      inputTokens: response.usage?.input_tokens,
      outputTokens: response.usage?.output_tokens,
    });
    // The same prompt as a chat completion: the same tokens, prices and cost in the ledger.
    const chat = await openai.chat.completions
      .create({
        model: MODEL,
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'Hello there' },
        ],
      })
      .withResponse();
    const chatRecord = await ledgerRecord(doc, chat.response.headers.get('x-request-id') as string);
    for (const field of ['inputTokens', 'outputTokens', 'prices', 'costMicroUsd', 'tier'])
      expect(record[field]).toEqual(chatRecord[field]);
  });

  it('streams the events in the spec order and stores what was streamed', async () => {
    const stream = await openai.responses.create({
      model: MODEL,
      input: [{ role: 'user', content: [{ type: 'input_text', text: 'Stream it' }] }],
      stream: true,
    });
    const types: string[] = [];
    let text = '';
    let completed: OpenAI.Responses.Response | undefined;
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'response.output_text.delta') text += event.delta;
      if (event.type === 'response.completed') completed = event.response;
    }

    const deltas = types.filter((t) => t === 'response.output_text.delta').length;
    expect(deltas).toBeGreaterThan(1);
    expect(types).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      ...Array(deltas).fill('response.output_text.delta'),
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(text).toContain('You said: "Stream it"');
    expect(completed?.usage?.output_tokens).toBe(deltas);

    const stored = await openai.responses.retrieve(completed?.id as string);
    expect(stored.status).toBe('completed');
    expect(stored.output_text).toBe(text);
    expect(stored.usage).toEqual(completed?.usage);
  });

  it('ends with response.incomplete when max_output_tokens cuts the answer', async () => {
    const stream = await openai.responses.create({
      model: MODEL,
      input: 'Cut me short',
      max_output_tokens: 3,
      stream: true,
    });
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const event of stream) events.push(event);

    const last = events.at(-1);
    expect(last?.type).toBe('response.incomplete');
    const response = (last as OpenAI.Responses.ResponseIncompleteEvent).response;
    expect(response.incomplete_details).toEqual({ reason: 'max_output_tokens' });
    expect(response.usage?.output_tokens).toBe(3);
    expect(response.max_output_tokens).toBe(3);
  });

  it('continues a conversation with previous_response_id, its earlier turns counted as input', async () => {
    const first = await openai.responses.create({ model: MODEL, input: 'My name is Ada' });
    const alone = await openai.responses.create({
      model: MODEL,
      input: 'What is my name?',
      store: false,
    });
    const { data: second, response: http } = await openai.responses
      .create({ model: MODEL, input: 'What is my name?', previous_response_id: first.id })
      .withResponse();

    expect(second.previous_response_id).toBe(first.id);
    // The earlier question and answer are in the prompt: counted, limited and billed.
    const earlier = await counter.count(MODEL, [
      { role: 'user', content: 'My name is Ada' },
      { role: 'assistant', content: first.output_text },
      { role: 'user', content: 'What is my name?' },
    ]);
    expect(second.usage?.input_tokens).toBe(earlier);
    expect(second.usage?.input_tokens).toBeGreaterThan(alone.usage?.input_tokens ?? 0);
    const record = await ledgerRecord(doc, http.headers.get('x-request-id') as string);
    expect(record.inputTokens).toBe(earlier);

    const counted = await openai.responses.inputTokens.count({
      model: MODEL,
      input: 'What is my name?',
      previous_response_id: first.id,
    });
    expect(counted).toEqual({ object: 'response.input_tokens', input_tokens: earlier });
  });

  it('lists input items with paging, and deletes a response', async () => {
    const response = await openai.responses.create({
      model: MODEL,
      input: [
        { role: 'developer', content: 'Answer in English.' },
        { role: 'user', content: 'One' },
        { role: 'assistant', content: 'Two' },
        { role: 'user', content: [{ type: 'input_text', text: 'Three' }] },
      ],
    });

    const newestFirst = await openai.responses.inputItems.list(response.id, { limit: 2 });
    expect(newestFirst.data.map((item) => item.type)).toEqual(['message', 'message']);
    expect(newestFirst.has_more).toBe(true);
    const all: string[] = [];
    for await (const item of openai.responses.inputItems.list(response.id, {
      order: 'asc',
      limit: 1,
    })) {
      const message = item as OpenAI.Responses.ResponseInputMessageItem;
      all.push(`${message.role}:${(message.content[0] as { text: string }).text}`);
    }
    expect(all).toEqual([
      'developer:Answer in English.',
      'user:One',
      'assistant:Two',
      'user:Three',
    ]);

    await openai.responses.delete(response.id);
    await expect(openai.responses.retrieve(response.id)).rejects.toBeInstanceOf(
      OpenAI.NotFoundError,
    );
    await expect(openai.responses.delete(response.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('refuses input items that share an id: a cursor naming one would page forever', async () => {
    const error = await openai.responses
      .create({
        model: MODEL,
        input: [
          { type: 'function_call_output', id: 'fco_same', call_id: 'call_1', output: 'One' },
          { type: 'function_call_output', id: 'fco_other', call_id: 'call_2', output: 'Two' },
          { type: 'function_call_output', id: 'fco_same', call_id: 'call_3', output: 'Three' },
        ],
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    const refused = error as InstanceType<typeof OpenAI.BadRequestError>;
    expect(refused.param).toBe('input[2].id');
    expect(refused.message).toContain("'fco_same'");
  });

  it("answers 404 on every route for another customer's response", async () => {
    const mine = await openai.responses.create({ model: MODEL, input: 'Private' });

    for (const attempt of [
      () => other.responses.retrieve(mine.id),
      () => other.responses.inputItems.list(mine.id),
      () => other.responses.delete(mine.id),
      () => other.responses.create({ model: MODEL, input: 'Hi', previous_response_id: mine.id }),
      () =>
        other.responses.inputTokens.count({
          model: MODEL,
          input: 'Hi',
          previous_response_id: mine.id,
        }),
    ]) {
      await expect(attempt()).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    }
    // Still there for its owner.
    expect((await openai.responses.retrieve(mine.id)).id).toBe(mine.id);
  });

  it("answers 404 to another project's key of the same organization on every route", async () => {
    const { customer, apiKey } = await local.operator.createCustomer({
      name: 'projects',
      email: 'projects@responses.test',
      tier: 'free',
    });
    const { key: adminKey } = await local.operator.createAdminKey(customer.customerId, 'ops');
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
    const client = (key: string) =>
      new OpenAI({ apiKey: key, baseURL: local.openAIBaseUrl, maxRetries: 0, fetch: spec.fetch });
    const defaultProject = client(apiKey as string);
    const otherProject = client(made.key);

    const theirs = await otherProject.responses.create({ model: MODEL, input: 'Team secret' });
    const mine = await defaultProject.responses.create({ model: MODEL, input: 'Mine' });
    for (const [reader, id] of [
      [defaultProject, theirs.id],
      [otherProject, mine.id],
    ] as const) {
      for (const attempt of [
        () => reader.responses.retrieve(id),
        () => reader.responses.inputItems.list(id),
        () => reader.responses.create({ model: MODEL, input: 'Hi', previous_response_id: id }),
        () =>
          reader.responses.inputTokens.count({
            model: MODEL,
            input: 'Hi',
            previous_response_id: id,
          }),
        () => reader.responses.delete(id),
      ]) {
        await expect(attempt()).rejects.toBeInstanceOf(OpenAI.NotFoundError);
      }
    }
    // Each still there for its own project.
    expect((await otherProject.responses.retrieve(theirs.id)).id).toBe(theirs.id);
    expect((await defaultProject.responses.retrieve(mine.id)).id).toBe(mine.id);
  });

  it('refuses what the backend cannot do with a 400 naming the parameter', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ text: { format: { type: 'json_object' } } }, 'text.format'],
      [{ tools: [{ type: 'function', name: 'lookup', parameters: { type: 'object' } }] }, 'tools'],
      [{ background: true }, 'background'],
      [{ service_tier: 'flex' }, 'service_tier'],
      [{ max_output_tokens: 10_000_000 }, 'max_output_tokens'],
      [{ conversation: 'conv_1' }, 'conversation'],
    ];
    for (const [extra, param] of cases) {
      const error = await openai.responses
        .create({ model: MODEL, input: 'Hi', ...extra } as never)
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.BadRequestError);
      expect((error as InstanceType<typeof OpenAI.BadRequestError>).param).toBe(param);
    }
  });
});

describe('truncation with a small context window', () => {
  const spec = specCheckedFetch();
  afterEach(() => expectSpecCompliance(spec));
  const WINDOW = 300;
  const small = loadConfig({
    env: 'dev',
    overrides: { models: { [MODEL]: { contextWindow: WINDOW, maxOutputTokens: 100 } } },
  });
  let local: LocalMode;
  let openai: OpenAI;

  beforeAll(async () => {
    local = await startLocalMode({
      config: small,
      port: 0,
      backend: new TestModelBackend({
        replyTokens: 5,
        promptTokens: (model, messages) => new PromptTokenCounter(small).count(model, messages),
      }),
    });
    openai = new OpenAI({
      apiKey: local.demoCustomers.find((d) => d.tier === 'developer')?.apiKey,
      baseURL: local.openAIBaseUrl,
      maxRetries: 0,
      fetch: spec.fetch,
    });
  });
  afterAll(() => local.stop());

  const long = (n: number) => `Turn ${n}: ${'tiers and limits '.repeat(25)}`;
  const conversation = [
    { role: 'system' as const, content: 'Be brief.' },
    { role: 'user' as const, content: long(1) },
    { role: 'assistant' as const, content: long(2) },
    { role: 'user' as const, content: long(3) },
    { role: 'assistant' as const, content: long(4) },
    { role: 'user' as const, content: 'And the last question?' },
  ];

  it("answers 400 naming 'input' when the prompt does not fit and truncation is disabled", async () => {
    const error = await openai.responses
      .create({ model: MODEL, input: conversation, max_output_tokens: 20 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error).toMatchObject({ param: 'input', code: 'context_length_exceeded' });
  });

  it('drops the oldest turns, never the system message or the last one, with truncation: auto', async () => {
    const response = await openai.responses.create({
      model: MODEL,
      input: conversation,
      max_output_tokens: 20,
      truncation: 'auto',
    });
    expect(response.truncation).toBe('auto');
    const tokens = (messages: typeof conversation) => counter.count(MODEL, messages);
    // The whole conversation does not fit; without its oldest turn it does, and that is what ran.
    expect((await tokens(conversation)) + 20).toBeGreaterThan(WINDOW);
    const [system, , ...newer] = conversation;
    expect(response.usage?.input_tokens).toBe(await tokens([system, ...newer] as never));
    expect((response.usage?.input_tokens ?? 0) + 20).toBeLessThanOrEqual(WINDOW);
  });

  it('continues a truncated conversation from what the model saw, so a chain stays bounded', async () => {
    // Each turn of a chain stored the whole conversation it was given, truncated or not: with
    // truncation: auto it grew without bound (every turn read and rewrote all of it).
    let previous = await openai.responses.create({
      model: MODEL,
      input: conversation,
      max_output_tokens: 20,
      truncation: 'auto',
    });
    for (const n of [5, 6, 7]) {
      previous = await openai.responses.create({
        model: MODEL,
        input: long(n),
        previous_response_id: previous.id,
        max_output_tokens: 20,
        truncation: 'auto',
      });
    }
    const next = await openai.responses.inputTokens.count({
      model: MODEL,
      input: 'Next?',
      previous_response_id: previous.id,
    });
    expect(next.input_tokens).toBeLessThanOrEqual(WINDOW);
  });
});

describe('a Responses stream the client leaves', () => {
  let local: LocalMode;
  let doc: DynamoDBDocumentClient;
  let openai: OpenAI;

  beforeAll(async () => {
    local = await startLocalMode({
      config,
      port: 0,
      // Slow enough that the client leaves long before the answer ends.
      backend: new TestModelBackend({ replyTokens: 400, tokensPerSecond: 40 }),
    });
    doc = localModeDocumentClient(local.dynamoEndpoint);
    openai = new OpenAI({
      apiKey: local.demoCustomers.find((d) => d.tier === 'developer')?.apiKey,
      baseURL: local.openAIBaseUrl,
      maxRetries: 0,
    });
  });
  afterAll(async () => {
    doc.destroy();
    await local.stop();
  });

  it('stores it cancelled with the usage the ledger billed, not without usage', async () => {
    const leave = new AbortController();
    const stream = await openai.responses.create(
      { model: MODEL, input: 'Tell me a long story', stream: true },
      { signal: leave.signal },
    );
    let responseId = '';
    let deltas = 0;
    try {
      for await (const event of stream) {
        if (event.type === 'response.created') responseId = event.response.id;
        if (event.type === 'response.output_text.delta') deltas += 1;
        if (deltas === 3) leave.abort();
      }
    } catch {
      // The client's own abort.
    }
    // The request id is the response id's hex, as a UUID.
    const hex = responseId.replace(/^resp_/, '');
    const requestId = [8, 12, 16, 20].reduceRight(
      (id, at) => `${id.slice(0, at)}-${id.slice(at)}`,
      hex,
    );
    const record = await ledgerRecord(doc, requestId);
    expect(record.status).toBe('client_disconnected');
    const deadline = Date.now() + 20_000;
    let stored = await openai.responses.retrieve(responseId).catch(() => undefined);
    while (stored?.status !== 'cancelled' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      stored = await openai.responses.retrieve(responseId).catch(() => undefined);
    }
    expect(stored?.status).toBe('cancelled');
    expect(stored?.usage).toMatchObject({
      input_tokens: record.inputTokens,
      output_tokens: record.outputTokens,
      total_tokens: record.inputTokens + record.outputTokens,
    });
  });
});
