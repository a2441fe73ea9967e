import { parseBatchLine } from '../../../lambda/batches/batch-lines';
import { TestModelBackend } from '../../../lambda/inference/backends/test-model-backend';
import { PromptTokenCounter } from '../../../lambda/inference/prompt-tokens';
import {
  completionWithReasoning,
  planReasoning,
  ReasoningStream,
} from '../../../lambda/inference/reasoning';
import { BadRequestError } from '../../../lambda/openai/errors';
import type { ChatCompletionChunk } from '../../../lambda/openai/openai-types';
import { loadConfig } from '../../../lib/config/load';
import { lmiEnvironment } from '../../../lib/constructs/inference/lmi-container';

/** Groq's reasoning parameters (console.groq.com/docs/reasoning) as lambda/inference/reasoning.ts maps them. */

const config = loadConfig({ env: 'dev' });
const qwen = config.models['qwen3-8b'];
if (!qwen) throw new Error('no qwen3-8b in the dev config');
// Batch lines count prompts with the model's tokenizer, loaded once.
beforeAll(() => new PromptTokenCounter(config).warmUp(), 60_000);

describe('planReasoning', () => {
  it.each(['reasoning_format', 'include_reasoning', 'reasoning_effort'] as const)(
    'a model that does not think refuses %s (400 naming it)',
    (param) => {
      const value = param === 'include_reasoning' ? true : 'none';
      const call = () =>
        planReasoning({ [param]: value }, { ...qwen, reasoning: undefined }, 'plain');
      expect(call).toThrow(BadRequestError);
      expect(call).toThrow(expect.objectContaining({ param, code: 'unsupported_parameter' }));
      expect(planReasoning({}, { ...qwen, reasoning: undefined }, 'plain')).toBeUndefined();
    },
  );

  it('defaults: raw and thinking; parsed with tools or JSON schema; none turns thinking off', () => {
    expect(planReasoning({}, qwen, 'qwen3-8b')).toEqual({ format: 'raw', thinking: true });
    const tools = [{ type: 'function' as const, function: { name: 'f' } }];
    expect(planReasoning({ tools }, qwen, 'qwen3-8b')).toEqual({
      format: 'parsed',
      thinking: true,
    });
    const schema = { type: 'json_schema' as const, json_schema: { name: 'x' } };
    expect(planReasoning({ response_format: schema }, qwen, 'qwen3-8b')?.format).toBe('parsed');
    expect(planReasoning({ response_format: { type: 'text' } }, qwen, 'qwen3-8b')?.format).toBe(
      'raw',
    );
    expect(planReasoning({ reasoning_effort: 'none' }, qwen, 'qwen3-8b')).toEqual({
      format: 'raw',
      thinking: false,
    });
  });
});

describe('shaping what vLLM split out', () => {
  const chunk = (delta: Record<string, unknown>, finish: 'stop' | null = null) =>
    ({
      id: 'c',
      object: 'chat.completion.chunk',
      created: 1,
      model: 'm',
      choices: [{ index: 0, delta, finish_reason: finish }],
    }) as ChatCompletionChunk;

  // vLLM renamed `reasoning_content` to `reasoning` (vllm-project/vllm pull request 27752).
  it('reads `reasoning_content` (what older vLLM releases send) as well as `reasoning`', () => {
    const completion = {
      id: 'c',
      object: 'chat.completion' as const,
      created: 1,
      model: 'm',
      choices: [
        {
          index: 0,
          message: { role: 'assistant' as const, content: 'A', reasoning_content: 'R' },
          finish_reason: 'stop' as const,
        },
      ],
      usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 },
    };
    const shaped = (format: 'raw' | 'parsed' | 'hidden') =>
      completionWithReasoning(completion, { format, thinking: true }).choices[0]?.message;

    expect(shaped('parsed')).toEqual({ role: 'assistant', content: 'A', reasoning: 'R' });
    expect(shaped('raw')).toEqual({ role: 'assistant', content: '<think>R</think>A' });
    expect(shaped('hidden')).toEqual({ role: 'assistant', content: 'A' });
  });

  it('raw stream: a delta that ends the thinking and starts the answer closes the tag between', () => {
    const stream = new ReasoningStream({ format: 'raw', thinking: true });
    const out = [
      chunk({ role: 'assistant', content: '' }),
      chunk({ reasoning: 'R1' }),
      chunk({ reasoning: 'R2', content: 'A1' }),
      chunk({ content: 'A2' }),
      chunk({}, 'stop'),
    ].map((c) => stream.push(c)?.choices[0]?.delta.content ?? '');

    expect(out.join('')).toBe('<think>R1R2</think>A1A2');
  });

  it('hidden stream: a thinking-only chunk is dropped, the role and finish chunks stay', () => {
    const stream = new ReasoningStream({ format: 'hidden', thinking: true });

    expect(stream.push(chunk({ reasoning: 'R' }))).toBeUndefined();
    expect(stream.push(chunk({ role: 'assistant', reasoning: 'R' }))?.choices[0]?.delta).toEqual({
      role: 'assistant',
    });
    expect(stream.push(chunk({ reasoning: 'R' }, 'stop'))?.choices[0]?.finish_reason).toBe('stop');
  });
});

describe('the built-in test model thinks deterministically when its model does', () => {
  const model = new TestModelBackend({ replyTokens: 3, reasoningModels: new Set(['qwen3-8b']) });
  const messages = [{ role: 'user', content: 'Hi' }];

  it('thinks first (reasoning, as vLLM parses it), unless enable_thinking is false', async () => {
    const thinking = await model.complete({ model: 'qwen3-8b', body: { messages } });
    const again = await model.complete({ model: 'qwen3-8b', body: { messages } });
    const off = await model.complete({
      model: 'qwen3-8b',
      body: { messages, chat_template_kwargs: { enable_thinking: false } },
    });
    const other = await model.complete({ model: 'qwen3-14b', body: { messages } });

    expect(thinking.choices[0]?.message).toEqual(again.choices[0]?.message);
    expect(thinking.choices[0]?.message.reasoning).toBe(
      '\nThe user wrote to me. I will greet them back.\n',
    );
    expect(thinking.choices[0]?.message.content).toBe("\n\nHello from Tierline's");
    expect(thinking.usage.completion_tokens).toBe(13);
    expect(off.choices[0]?.message).toEqual({
      role: 'assistant',
      content: "Hello from Tierline's",
    });
    expect(off.usage.completion_tokens).toBe(3);
    expect(other.choices[0]?.message.reasoning).toBeUndefined();
  });

  it('streams the thinking as `reasoning` deltas; max_tokens counts it', async () => {
    const deltas: ChatCompletionChunk['choices'][number]['delta'][] = [];
    for await (const c of model.stream({ model: 'qwen3-8b', body: { messages, max_tokens: 2 } })) {
      for (const choice of c.choices) deltas.push(choice.delta);
    }
    expect(deltas).toEqual([{ role: 'assistant', reasoning: '\nThe' }, { reasoning: ' user' }, {}]);
  });
});

describe('the deployment', () => {
  it("LMI runs vLLM's qwen3 reasoning parser for the Qwen3 models", () => {
    const env = lmiEnvironment('qwen3-8b', qwen, config.fineTuning);
    expect(env).toMatchObject({
      OPTION_ENABLE_REASONING: 'true',
      OPTION_REASONING_PARSER: 'qwen3',
    });
    const plain = lmiEnvironment('x', { ...qwen, reasoning: undefined }, config.fineTuning);
    expect(plain).not.toHaveProperty('OPTION_REASONING_PARSER');
  });

  it('a batch line takes the same parameters: enable_thinking upstream, 400 for what chat refuses', () => {
    const line = (body: Record<string, unknown>) =>
      parseBatchLine(
        JSON.stringify({
          custom_id: 'a',
          method: 'POST',
          url: '/v1/chat/completions',
          body: { model: 'qwen3-8b', messages: [{ role: 'user', content: 'Hi' }], ...body },
        }),
        1,
        config,
        'developer',
      );

    const off = line({ reasoning_effort: 'none', reasoning_format: 'hidden' });
    if (off.kind !== 'run') throw new Error('not runnable');
    expect(off.line.body.chat_template_kwargs).toEqual({ enable_thinking: false });
    expect(off.line.body).not.toHaveProperty('reasoning_effort');
    expect(off.line.body).not.toHaveProperty('reasoning_format');
    expect(off.line.reasoning).toEqual({ format: 'hidden', thinking: false });
    expect(line({ reasoning_effort: 'high' })).toMatchObject({
      kind: 'reject',
      line: { statusCode: 400, error: { param: 'reasoning_effort' } },
    });
  });
});
