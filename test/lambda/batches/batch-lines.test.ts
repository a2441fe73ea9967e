import { parseBatchLine } from '../../../lambda/batches/batch-lines';
import { parseChatRequest } from '../../../lambda/inference/chat-request';
import { PromptTokenCounter } from '../../../lambda/inference/prompt-tokens';
import { checkContextWindow, estimatePromptTokens } from '../../../lambda/inference/tokens';
import { costMicroUsd, pricesOf } from '../../../lambda/metering/pricing';
import { loadConfig } from '../../../lib/config/load';

const config = loadConfig({ env: 'dev' });
const counter = new PromptTokenCounter(config);
beforeAll(() => counter.warmUp(), 60_000);

const TOOLS = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'The weather in a city',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  },
];

/** What the chat route reserves for the same body (lambda/http/routes/chat-completions.ts, before `admit`). */
async function chatReservation(body: Record<string, unknown>) {
  const request = parseChatRequest(body);
  const model = config.models[request.model];
  if (!model) throw new Error(`no model ${request.model}`);
  const inputTokens = await counter.count(request.model, request.messages, {
    tools: request.tools ?? undefined,
  });
  const clientMax = request.max_completion_tokens ?? request.max_tokens ?? undefined;
  const room = checkContextWindow(request.model, model.contextWindow, inputTokens, clientMax);
  const outputTokens = clientMax ?? Math.min(model.maxOutputTokens, room);
  return { inputTokens, outputTokens };
}

describe('batch lines reserve what chat would reserve', () => {
  const bodies: Record<string, Record<string, unknown>> = {
    english: {
      model: 'qwen3-14b',
      max_completion_tokens: 200,
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'Summarize the plot of Hamlet in two sentences.' },
      ],
    },
    'rare CJK characters': {
      model: 'qwen3-8b',
      max_completion_tokens: 50,
      messages: [{ role: 'user', content: '龘靐齉齾爩鱻麤龗灪吁'.repeat(200) }],
    },
    emoji: { model: 'qwen3-32b', messages: [{ role: 'user', content: '🦙🚀🧪'.repeat(300) }] },
    digits: {
      model: 'qwen3-8b',
      messages: [{ role: 'user', content: Array.from({ length: 500 }, (_, i) => i).join(' ') }],
    },
    'tools and no max tokens': {
      model: 'qwen3-14b',
      tools: TOOLS,
      messages: [{ role: 'user', content: 'Weather in Lyon?' }],
    },
  };

  for (const [name, body] of Object.entries(bodies)) {
    it(`${name}: prompt tokens, output allowance and maximum cost`, async () => {
      // Qwen3 is an Enterprise model.
      const tier = body.model === 'qwen3-32b' ? 'enterprise' : 'developer';
      const parsed = parseBatchLine(
        JSON.stringify({ custom_id: 'a', method: 'POST', url: '/v1/chat/completions', body }),
        1,
        config,
        tier,
      );
      if (parsed.kind !== 'run') throw new Error(`not runnable: ${JSON.stringify(parsed)}`);
      const chat = await chatReservation(body);

      expect({
        inputTokens: parsed.line.promptTokens,
        outputTokens: parsed.line.maxTokens,
      }).toEqual(chat);
      expect(parsed.line.body.max_tokens).toBe(chat.outputTokens);
      const offer = config.tiers[tier].models[body.model as string];
      if (!offer) throw new Error('model not offered');
      expect(parsed.line.maxCostMicroUsd).toBe(
        costMicroUsd(chat, pricesOf(offer), config.tiers[tier].batch.discountPercent),
      );
    });
  }

  it('counts rare characters as the tokenizer does, not as characters / 4 (which undercounts them)', () => {
    const body = bodies['rare CJK characters'] as { messages: never };
    const parsed = parseBatchLine(
      JSON.stringify({ custom_id: 'a', method: 'POST', url: '/v1/chat/completions', body }),
      1,
      config,
      'developer',
    );
    if (parsed.kind !== 'run') throw new Error('not runnable');
    expect(parsed.line.promptTokens).toBeGreaterThan(2 * estimatePromptTokens(body.messages));
  });

  it('rejects a line whose prompt cannot fit the context window, as chat does (400 context_length_exceeded)', () => {
    const body = {
      model: 'qwen3-8b',
      max_completion_tokens: 100,
      messages: [{ role: 'user', content: 'word '.repeat(140_000) }],
    };
    const parsed = parseBatchLine(
      JSON.stringify({ custom_id: 'big', method: 'POST', url: '/v1/chat/completions', body }),
      1,
      config,
      'developer',
    );
    expect(parsed).toMatchObject({
      kind: 'reject',
      line: {
        customId: 'big',
        statusCode: 400,
        error: { code: 'context_length_exceeded', param: 'messages' },
      },
    });
  });
});
