import Groq from 'groq-sdk';
import OpenAI from 'openai';
import { TestModelBackend } from '../../lambda/inference/backends/test-model-backend';
import { loadConfig } from '../../lib/config/load';
import { type LocalMode, startLocalMode } from '../../local/local-mode';
import { expectSpecCompliance, specCheckedFetch } from '../support/spec-check';

/**
 * Reproductions from a review of the API as the official clients, a careless developer and a hostile user
 * use it: each test is what was sent and what a client expects back. Every answer is spec-checked.
 */

const MODEL = 'llama-3.1-8b-instant';

describe('API review reproductions, against local mode', () => {
  const spec = specCheckedFetch();
  afterEach(() => expectSpecCompliance(spec));

  let local: LocalMode;
  let keys: Record<string, string>;
  let openai: OpenAI;
  let groq: Groq;

  beforeAll(async () => {
    local = await startLocalMode({
      config: loadConfig({ env: 'dev' }),
      port: 0,
      backend: new TestModelBackend({ replyTokens: 3 }),
    });
    keys = Object.fromEntries(local.demoCustomers.map((d) => [d.tier, d.apiKey]));
    openai = new OpenAI({ apiKey: keys.developer, baseURL: local.openAIBaseUrl, maxRetries: 0, fetch: spec.fetch });
    groq = new Groq({ apiKey: keys.developer, baseURL: local.url, maxRetries: 0, fetch: spec.fetch });
  });
  afterAll(() => local.stop());
  const post = (route: string, body: unknown, key = keys.developer) =>
    spec.fetch(`${local.openAIBaseUrl}${route}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('takes back the assistant message it answered (with "refusal": null) in the next turn, openai and groq-sdk', async () => {
    const history: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'Hello' }];
    const first = await openai.chat.completions.create({ model: MODEL, messages: history });
    history.push(first.choices[0]?.message as OpenAI.ChatCompletionMessageParam, { role: 'user', content: 'Again' });

    const second = await openai.chat.completions.create({ model: MODEL, messages: history });
    const viaGroq = await groq.chat.completions.create({
      model: MODEL,
      messages: history as Groq.Chat.ChatCompletionMessageParam[],
    });

    expect(second.object).toBe('chat.completion');
    expect(viaGroq.object).toBe('chat.completion');
  });

  it.each([
    [[{ role: 'user', content: [] }], 'messages[0].content'],
    [
      [
        { role: 'system', content: [] },
        { role: 'user', content: 'x' },
      ],
      'messages[0].content',
    ],
    [
      [
        { role: 'user', content: 'x' },
        { role: 'assistant', content: [] },
      ],
      'messages[1].content',
    ],
  ])('refuses an empty array of content parts (the spec: minItems 1) in %j, naming it', async (messages, param) => {
    const response = await post('/chat/completions', { model: MODEL, messages });
    const { error } = (await response.json()) as { error: { param: string; code: string } };

    expect(response.status).toBe(400);
    expect(error).toMatchObject({ param, code: 'array_below_min_length' });
  });
});
