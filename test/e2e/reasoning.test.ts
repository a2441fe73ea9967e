import { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import Groq from 'groq-sdk';
import type OpenAI from 'openai';
import { SageMakerBackend } from '../../lambda/inference/backends/sagemaker-backend';
import {
  endpointName,
  inferenceComponentName,
} from '../../lambda/inference/backends/sagemaker-names';
import { PromptTokenCounter } from '../../lambda/inference/prompt-tokens';
import { loadConfig } from '../../lib/config/load';
import { type LocalMode, startLocalMode } from '../../local/local-mode';
import { type LmiStandIn, startLmiStandIn } from '../support/lmi-stand-in';
import { type LocalClients, localClients } from '../support/local-clients';
import { expectSpecCompliance, specCheckedFetch } from '../support/spec-check';

/**
 * Groq's reasoning parameters on Qwen3, end to end: groq-sdk over HTTP to local mode, the SageMaker
 * backend through the SDK to the LMI stand-in, which thinks as Qwen3 does and splits the thinking
 * out as vLLM's qwen3 reasoning parser does (LMI `OPTION_REASONING_PARSER`). What each format
 * answers is Groq's documented behaviour (console.groq.com/docs/reasoning; groq-sdk 1.6.0 types).
 */

const config = loadConfig({ env: 'dev' });
const MODEL = 'qwen3-8b';
const ENDPOINT = endpointName('dev', MODEL);
const COMPONENT = inferenceComponentName('dev', MODEL);
const messages = [{ role: 'user' as const, content: 'Hi there' }];
const THINKING = '\nLet me repeat it.\n';
const ANSWER = '\n\nYou said: Hi there';

describe('reasoning_format / include_reasoning / reasoning_effort on Qwen3 (LMI stand-in)', () => {
  const spec = specCheckedFetch();
  afterEach(() => expectSpecCompliance(spec));
  let standIn: LmiStandIn;
  let local: LocalMode;
  let groq: Groq;
  let clients: LocalClients;
  let runtime: SageMakerRuntimeClient;

  beforeAll(async () => {
    standIn = await startLmiStandIn({
      components: {
        [COMPONENT]: {
          kind: 'base',
          endpoint: ENDPOINT,
          copies: 1,
          servedModelName: MODEL,
          thinks: true,
          reasoningParser: 'qwen3',
        },
      },
    });
    runtime = new SageMakerRuntimeClient({
      endpoint: standIn.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
      maxAttempts: 1,
    });
    local = await startLocalMode({
      config,
      port: 0,
      console: false,
      backend: new SageMakerBackend({ env: 'dev', client: runtime }),
    });
    clients = localClients(local, spec.fetch);
    groq = clients.groq(clients.keys.enterprise);
  });
  afterAll(async () => {
    await local?.stop();
    await standIn?.close();
    runtime?.destroy();
  });

  const lastSent = () => standIn.calls.at(-1)?.body ?? {};

  it('thinks by default and answers raw: the thinking in <think> tags in the content', async () => {
    const completion = await groq.chat.completions.create({ model: MODEL, messages });

    const message = completion.choices[0]?.message;
    expect(message?.content).toBe(`<think>${THINKING}</think>${ANSWER}`);
    expect(message?.reasoning).toBeUndefined();
    // Thinking is generated, so billed: 7 tokens of it (tags and blank line included), 4 of answer.
    expect(completion.usage?.completion_tokens).toBe(11);
    const sent = lastSent();
    expect(sent.chat_template_kwargs).toBeUndefined();
    for (const param of ['reasoning_format', 'include_reasoning', 'reasoning_effort']) {
      expect(sent).not.toHaveProperty(param);
    }
  });

  it.each([
    [{ reasoning_format: 'parsed' as const }, THINKING],
    [{ include_reasoning: true }, THINKING],
    [{ reasoning_format: 'hidden' as const }, undefined],
    [{ include_reasoning: false }, undefined],
  ])(
    '%j: the thinking in message.reasoning or nowhere, the answer alone',
    async (params, reasoning) => {
      const completion = await groq.chat.completions.create({ model: MODEL, messages, ...params });

      const message = completion.choices[0]?.message;
      expect(message?.content).toBe(ANSWER);
      expect(message?.reasoning).toBe(reasoning);
      expect(completion.usage?.completion_tokens).toBe(11);
    },
  );

  it("reasoning_effort 'none' turns thinking off in Qwen3's template (enable_thinking: false)", async () => {
    const completion = await groq.chat.completions.create({
      model: MODEL,
      messages,
      reasoning_effort: 'none',
    });

    expect(completion.choices[0]?.message.content).toBe('You said: Hi there');
    expect(completion.usage?.completion_tokens).toBe(4);
    expect(lastSent().chat_template_kwargs).toEqual({ enable_thinking: false });
  });

  it("reasoning_effort 'default' leaves the model's default (it thinks)", async () => {
    const completion = await groq.chat.completions.create({
      model: MODEL,
      messages,
      reasoning_effort: 'default',
      reasoning_format: 'parsed',
    });

    expect(completion.choices[0]?.message.reasoning).toBe(THINKING);
    expect(lastSent().chat_template_kwargs).toBeUndefined();
  });

  async function streamed(params: Record<string, unknown>) {
    const stream = await groq.chat.completions.create({
      model: MODEL,
      messages,
      stream: true,
      ...params,
    });
    let content = '';
    let reasoning = '';
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      for (const choice of chunk.choices) {
        content += choice.delta.content ?? '';
        reasoning += choice.delta.reasoning ?? '';
        finish = choice.finish_reason ?? finish;
      }
    }
    return { content, reasoning, finish };
  }

  it('streamed: raw in the content deltas, parsed in delta.reasoning, hidden nowhere', async () => {
    expect(await streamed({})).toEqual({
      content: `<think>${THINKING}</think>${ANSWER}`,
      reasoning: '',
      finish: 'stop',
    });
    expect(await streamed({ reasoning_format: 'parsed' })).toEqual({
      content: ANSWER,
      reasoning: THINKING,
      finish: 'stop',
    });
    expect(await streamed({ reasoning_format: 'hidden' })).toEqual({
      content: ANSWER,
      reasoning: '',
      finish: 'stop',
    });
    expect(await streamed({ reasoning_effort: 'none' })).toEqual({
      content: 'You said: Hi there',
      reasoning: '',
      finish: 'stop',
    });
  });

  it('streamed raw, cut while thinking: the <think> tag is closed at the finish', async () => {
    const cut = await streamed({ max_completion_tokens: 3 });

    expect(cut).toEqual({ content: '<think>\nLet me</think>', reasoning: '', finish: 'length' });
  });

  it.each([
    [{ reasoning_format: 'thoughts' }, 'reasoning_format'],
    [{ reasoning_effort: 'high' }, 'reasoning_effort'],
    [{ reasoning_effort: 'max' }, 'reasoning_effort'],
    [{ include_reasoning: 'yes' }, 'include_reasoning'],
    [{ include_reasoning: true, reasoning_format: 'parsed' }, 'include_reasoning'],
    [{ reasoning_format: 'raw', response_format: { type: 'json_object' } }, 'reasoning_format'],
    [
      {
        reasoning_format: 'raw',
        tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }],
      },
      'reasoning_format',
    ],
  ])('%j is a 400 naming %s, and no model runs', async (params, param) => {
    const calls = standIn.calls.length;
    const error = await groq.chat.completions
      .create({ model: MODEL, messages, ...(params as object) })
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(Groq.BadRequestError);
    expect((error as InstanceType<typeof Groq.BadRequestError>).error).toMatchObject({
      error: { type: 'invalid_request_error', param },
    });
    expect(standIn.calls.length).toBe(calls);
  });

  it('JSON mode defaults to parsed (raw is not allowed there)', async () => {
    const completion = await groq.chat.completions.create({
      model: MODEL,
      messages,
      response_format: { type: 'json_object' },
    });

    expect(completion.choices[0]?.message.reasoning).toBe(THINKING);
    expect(completion.choices[0]?.message.content).toBe(ANSWER);
  });

  it("an answer sent back with its 'reasoning' is accepted, and the reasoning stays here", async () => {
    const first = await groq.chat.completions.create({
      model: MODEL,
      messages,
      reasoning_format: 'parsed',
    });
    const answer = first.choices[0]?.message;

    await groq.chat.completions.create({
      model: MODEL,
      messages: [
        ...messages,
        { role: 'assistant', content: answer?.content ?? '', reasoning: answer?.reasoning },
        { role: 'user', content: 'Again' },
      ],
    });

    const history = lastSent().messages as Record<string, unknown>[];
    expect(history[1]).toEqual({ role: 'assistant', content: ANSWER });
  });

  it('Responses: the thinking as a reasoning item before the message, counted in reasoning_tokens', async () => {
    const openai = clients.openai(clients.keys.enterprise);
    const response = await openai.responses.create({ model: MODEL, input: 'Hi there' });

    expect(response.output.map((item) => item.type)).toEqual(['reasoning', 'message']);
    const reasoning = response.output[0] as OpenAI.Responses.ResponseReasoningItem;
    expect(reasoning.content).toEqual([{ type: 'reasoning_text', text: THINKING }]);
    expect(response.output_text).toBe(ANSWER);
    // Responses asks for the thinking apart (parsed), as Groq's gpt-oss answers it.
    expect(lastSent()).not.toHaveProperty('reasoning_format');
    const thinkingTokens = await new PromptTokenCounter(config).countText(MODEL, THINKING);
    expect(response.usage?.output_tokens_details.reasoning_tokens).toBe(thinkingTokens);
    expect(response.usage?.output_tokens).toBe(11);

    const stream = await openai.responses.create({ model: MODEL, input: 'Hi there', stream: true });
    let thought = '';
    let completed: OpenAI.Responses.Response | undefined;
    for await (const event of stream) {
      if (event.type === 'response.reasoning_text.delta') thought += event.delta;
      if (event.type === 'response.completed') completed = event.response;
    }
    expect(thought).toBe(THINKING);
    expect(completed?.output.map((item) => item.type)).toEqual(['reasoning', 'message']);
    const message = completed?.output[1] as OpenAI.Responses.ResponseOutputMessage;
    expect(message.content).toEqual([
      { type: 'output_text', text: ANSWER, annotations: [], logprobs: [] },
    ]);
    const streamedThinking = completed?.usage?.output_tokens_details.reasoning_tokens ?? 0;
    expect(streamedThinking).toBeGreaterThan(0);
    expect(streamedThinking).toBeLessThan(completed?.usage?.output_tokens ?? 0);

    const followUp = await openai.responses.create({
      model: MODEL,
      input: 'Again',
      previous_response_id: response.id,
      reasoning: { effort: 'none' },
    });
    expect(followUp.output.map((item) => item.type)).toEqual(['message']);
    // The earlier answer goes back without its thinking, as Qwen3's template wants it.
    expect(lastSent().messages).toEqual([
      { role: 'user', content: 'Hi there' },
      { role: 'assistant', content: ANSWER },
      { role: 'user', content: 'Again' },
    ]);
    expect(lastSent().chat_template_kwargs).toEqual({ enable_thinking: false });
  });
});
