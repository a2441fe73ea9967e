import OpenAI from 'openai';
import { TestModelBackend } from '../../lambda/inference/backends/test-model-backend';
import { loadConfig } from '../../lib/config/load';
import { type LocalMode, startLocalMode } from '../../local/local-mode';
import { expectSpecCompliance, specCheckedFetch } from '../support/spec-check';

/**
 * A response is stored when it ends (nothing is written on the way to its first token), so while it
 * streams its id reads as unknown (404); a DELETE then answers 404 too, and the response it names is
 * not stored when the stream ends. Over real HTTP with the official openai client against local
 * mode.
 */
const MODEL = 'qwen3-8b';
const config = loadConfig({
  env: 'dev',
  overrides: {
    tiers: {
      free: {
        models: { [MODEL]: { rpm: 100, rpd: 1_000, tpm: 50_000, tpd: 100_000 } },
        edge: { rateLimit: 1_000, burstLimit: 1_000 },
      },
    },
  },
});

describe('deleting a response while it streams', () => {
  const spec = specCheckedFetch();
  afterEach(() => expectSpecCompliance(spec));

  let local: LocalMode;
  let openai: OpenAI;
  let other: OpenAI;

  beforeAll(async () => {
    // About two seconds of stream: room to read and delete it in the middle.
    local = await startLocalMode({
      config,
      port: 0,
      backend: new TestModelBackend({ replyTokens: 40, tokensPerSecond: 20 }),
      authorizerCacheTtlMs: 0,
    });
    const client = async (name: string) => {
      const { apiKey } = await local.operator.createCustomer({
        name,
        email: `${name}@delete-streaming.test`,
        tier: 'free',
      });
      return new OpenAI({ apiKey, baseURL: local.openAIBaseUrl, maxRetries: 0, fetch: spec.fetch });
    };
    openai = await client('streamer');
    other = await client('bystander');
  });
  afterAll(() => local.stop());

  /** The stream and the id its first event names. */
  async function started() {
    const stream = await openai.responses.create({
      model: MODEL,
      input: 'Tell me a story',
      stream: true,
    });
    const events = stream[Symbol.asyncIterator]();
    const first = await events.next();
    if (first.done || first.value.type !== 'response.created')
      throw new Error('no response.created');
    return { id: first.value.response.id, events };
  }
  async function drain(events: AsyncIterator<{ type: string }>) {
    const types: string[] = [];
    for (let next = await events.next(); !next.done; next = await events.next())
      types.push(next.value.type);
    return types;
  }

  it('is unknown while it streams, and stored, completed, once it ended', async () => {
    const { id, events } = await started();

    await expect(openai.responses.retrieve(id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    expect((await drain(events)).at(-1)).toBe('response.completed');
    const after = await openai.responses.retrieve(id);
    expect(after.status).toBe('completed');
    expect(after.output_text.length).toBeGreaterThan(0);
  });

  it('deleted mid-stream: 404, the stream goes on, and the response is not stored when it ends', async () => {
    const { id, events } = await started();

    // Another organization's DELETE of the same id leaves nothing in this one's way.
    await expect(other.responses.delete(id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(openai.responses.delete(id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);

    expect((await drain(events)).at(-1)).toBe('response.completed');
    await expect(openai.responses.retrieve(id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(openai.responses.delete(id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(openai.responses.inputItems.list(id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    const refused = await openai.responses
      .create({ model: MODEL, input: 'And then?', previous_response_id: id })
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('is stored for its owner when only another organization deleted its id', async () => {
    const { id, events } = await started();
    await expect(other.responses.delete(id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await drain(events);
    const next = await openai.responses.create({
      model: MODEL,
      input: 'And then?',
      previous_response_id: id,
    });
    expect(next.status).toBe('completed');
  });
});
