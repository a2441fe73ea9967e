import { setTimeout as sleep } from 'node:timers/promises';
import type { ChatCompletion, ChatCompletionChunk, FinishReason } from '../../openai/openai-types';
import type { ChatMessage } from '../chat-request';
import { estimatePromptTokens, textOfContent } from '../tokens';
import type { BackendChatRequest, ModelBackend } from './model-backend';

/** What `owned_by` says in `/v1/models` when this backend serves: nobody should mistake it for a real LLM. */
export const TEST_MODEL_OWNER = 'tierline-test-model (deterministic, local mode)';
export const TEST_MODEL_FINGERPRINT = 'tierline-test-model';

export interface TestModelOptions {
  /** Delay before the first token, in ms. @default 0 */
  timeToFirstTokenMs?: number;
  /** Pace of the following tokens; 0 means as fast as possible. @default 0 */
  tokensPerSecond?: number;
  /** Length of the reply in tokens (before max_tokens and stop cut it). @default 48 */
  replyTokens?: number;
  /** How it counts the prompt in its usage, as a real server counts with its tokenizer. @default an estimate */
  promptTokens?: (model: string, messages: readonly ChatMessage[]) => Promise<number>;
  /**
   * The models that think first, as Qwen3 does (the catalog's models with `reasoning`): their reply
   * starts with a fixed thinking text, one word per token, sent as vLLM's reasoning parser sends it
   * (`reasoning`), unless the request turns it off as Qwen3's template takes it
   * (`chat_template_kwargs.enable_thinking: false`). @default none
   */
  reasoningModels?: ReadonlySet<string>;
}

/** One generated token: thinking (vLLM's `reasoning`) or answer. */
interface Token {
  text: string;
  reasoning: boolean;
}

/**
 * A deterministic stand-in for an LLM: no weights can be downloaded here. It answers with a fixed
 * text that echoes the last user message, one word per token, at a configurable pace, and honours
 * max_tokens and stop sequences. Sampling parameters are accepted and have no effect (its output is
 * always the same).
 */
export class TestModelBackend implements ModelBackend {
  private static readonly UNSUPPORTED: ReadonlySet<string> = new Set([
    'tools',
    'tool_choice',
    'parallel_tool_calls',
    'response_format',
    'logprobs',
    'top_logprobs',
    'logit_bias',
  ]);

  private readonly timeToFirstTokenMs: number;
  private readonly tokensPerSecond: number;
  private readonly replyTokens: number;
  private readonly reasoningModels: ReadonlySet<string>;
  private readonly countPrompt: (
    model: string,
    messages: readonly ChatMessage[],
  ) => Promise<number>;

  constructor(options: TestModelOptions = {}) {
    this.timeToFirstTokenMs = options.timeToFirstTokenMs ?? 0;
    this.tokensPerSecond = options.tokensPerSecond ?? 0;
    this.replyTokens = options.replyTokens ?? 48;
    this.reasoningModels = options.reasoningModels ?? new Set();
    this.countPrompt =
      options.promptTokens ?? (async (_model, messages) => estimatePromptTokens(messages));
  }

  unsupportedParameters(): ReadonlySet<string> {
    return TestModelBackend.UNSUPPORTED;
  }

  /** The reply as tokens: one word (with its leading space) per token; it names the adapter that served it. */
  replyFor(messages: readonly ChatMessage[], adapter?: string): string[] {
    const lastUser = [...messages].reverse().find((m) => m.role === 'user');
    const said = textOfContent(lastUser?.content ?? '')
      .replace(/\s+/g, ' ')
      .trim()
      .slice(0, 120);
    const words = [
      'Hello',
      'from',
      "Tierline's",
      'built-in',
      'test',
      'model.',
      ...(adapter ? ['Served', 'by', 'adapter', `${adapter}.`] : []),
      ...(said ? ['You', 'said:', `"${said}".`] : []),
    ];
    const filler =
      'This deterministic reply streams one word per token so you can watch the stream arrive.'.split(
        ' ',
      );
    while (words.length < this.replyTokens) words.push(...filler);
    return words.slice(0, this.replyTokens).map((word, i) => (i === 0 ? word : ` ${word}`));
  }

  /** What the model thinks before the reply (a model that thinks, thinking not turned off). */
  thinkingFor(request: BackendChatRequest): string[] {
    const model = request.adapter?.baseModel ?? request.model;
    const kwargs = request.body.chat_template_kwargs as { enable_thinking?: unknown } | undefined;
    if (!this.reasoningModels.has(model) || kwargs?.enable_thinking === false) return [];
    // Qwen3's thinking opens and closes with a line break inside the tags.
    const words = ['\nThe', 'user', 'wrote', 'to', 'me.', 'I', 'will', 'greet', 'them', 'back.\n'];
    return words.map((word, i) => (i === 0 || word.startsWith('\n') ? word : ` ${word}`));
  }

  private limitsOf(body: Record<string, unknown>): { maxTokens: number; stops: string[] } {
    const max = (body.max_completion_tokens ?? body.max_tokens) as number | null | undefined;
    const stop = body.stop as string | string[] | null | undefined;
    return {
      maxTokens: typeof max === 'number' ? max : Number.POSITIVE_INFINITY,
      stops: stop === null || stop === undefined ? [] : Array.isArray(stop) ? stop : [stop],
    };
  }

  /** Yields tokens at the configured pace until max tokens or a stop sequence. */
  private async *generate(request: BackendChatRequest): AsyncGenerator<Token, FinishReason> {
    const messages = request.body.messages as ChatMessage[];
    const { maxTokens, stops } = this.limitsOf(request.body);
    const thinking = this.thinkingFor(request);
    // The answer follows the thinking after a blank line, as Qwen3 writes it.
    const reply = this.replyFor(messages, request.adapter?.name);
    const tokens = thinking.length > 0 ? reply.map((t, i) => (i === 0 ? `\n\n${t}` : t)) : reply;
    const delay = this.tokensPerSecond > 0 ? 1000 / this.tokensPerSecond : 0;
    for (let i = 0; i < thinking.length; i += 1) {
      if (i >= maxTokens) return 'length';
      const wait = i === 0 ? this.timeToFirstTokenMs : delay;
      if (wait > 0) await sleep(wait, undefined, { signal: request.signal });
      else request.signal?.throwIfAborted();
      yield { text: thinking[i] as string, reasoning: true };
    }
    let text = '';
    for (let i = 0; i < tokens.length; i += 1) {
      if (thinking.length + i >= maxTokens) return 'length';
      const token = tokens[i] as string;
      // The text so far holds no stop sequence, so the first match ends inside this token.
      const stopAt = Math.min(
        ...stops.map((stop) => (text + token).indexOf(stop)).filter((at) => at >= 0),
      );
      if (Number.isFinite(stopAt)) {
        const before = (text + token).slice(text.length, stopAt);
        if (before) yield { text: before, reasoning: false };
        return 'stop';
      }
      const wait = i === 0 && thinking.length === 0 ? this.timeToFirstTokenMs : delay;
      if (wait > 0) await sleep(wait, undefined, { signal: request.signal });
      else request.signal?.throwIfAborted();
      text += token;
      yield { text: token, reasoning: false };
    }
    return 'stop';
  }

  async complete(request: BackendChatRequest): Promise<ChatCompletion> {
    const generator = this.generate(request);
    let content = '';
    let reasoning = '';
    let completionTokens = 0;
    let step = await generator.next();
    while (!step.done) {
      if (step.value.reasoning) reasoning += step.value.text;
      else content += step.value.text;
      completionTokens += 1;
      step = await generator.next();
    }
    const promptTokens = await this.countPrompt(
      request.adapter?.baseModel ?? request.model,
      request.body.messages as ChatMessage[],
    );
    return {
      id: 'chatcmpl-test',
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: request.model,
      system_fingerprint: TEST_MODEL_FINGERPRINT,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content, ...(reasoning ? { reasoning } : {}) },
          finish_reason: step.value,
        },
      ],
      usage: {
        prompt_tokens: promptTokens,
        completion_tokens: completionTokens,
        total_tokens: promptTokens + completionTokens,
      },
    };
  }

  async *stream(request: BackendChatRequest): AsyncIterable<ChatCompletionChunk> {
    const created = Math.floor(Date.now() / 1000);
    const chunk = (
      choices: ChatCompletionChunk['choices'],
      usage?: ChatCompletionChunk['usage'],
    ): ChatCompletionChunk => ({
      id: 'chatcmpl-test',
      object: 'chat.completion.chunk',
      created,
      model: request.model,
      system_fingerprint: TEST_MODEL_FINGERPRINT,
      choices,
      ...(usage ? { usage } : {}),
    });
    const generator = this.generate(request);
    let completionTokens = 0;
    let step = await generator.next();
    let first = true;
    while (!step.done) {
      completionTokens += 1;
      const part = step.value.reasoning
        ? { reasoning: step.value.text }
        : { content: step.value.text };
      yield chunk([
        {
          index: 0,
          delta: first ? { role: 'assistant', ...part } : part,
          finish_reason: null,
        },
      ]);
      first = false;
      step = await generator.next();
    }
    yield chunk([
      {
        index: 0,
        delta: first ? { role: 'assistant', content: '' } : {},
        finish_reason: step.value,
      },
    ]);
    const promptTokens = await this.countPrompt(
      request.adapter?.baseModel ?? request.model,
      request.body.messages as ChatMessage[],
    );
    yield chunk([], {
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
    });
  }
}
