import type { ModelConfig } from '../../lib/config/schema';
import { BadRequestError } from '../openai/errors';
import type {
  AssistantMessage,
  ChatCompletion,
  ChatCompletionChunk,
  ChunkDelta,
} from '../openai/openai-types';
import type { ChatRequest } from './chat-request';

/**
 * Groq's reasoning parameters on the models that think (Qwen3), mapped onto what LMI/vLLM take.
 *
 * Groq's contract (console.groq.com/docs/reasoning, read 2026-12-07; the request and message types
 * of groq-sdk 1.6.0, generated from Groq's OpenAPI document):
 * - `reasoning_format`: `parsed` puts the reasoning in `message.reasoning` (`delta.reasoning` when
 *   streamed); `raw` keeps it in the content between `<think>` tags; `hidden` returns the answer
 *   only. The default is `raw`, or `parsed` with JSON mode or tools (they do not support `raw`):
 *   `raw` asked for with JSON mode or tools is a 400.
 * - `include_reasoning`: `true` (the reasoning in `message.reasoning`) or `false` (left out); it is
 *   "mutually exclusive with `reasoning_format`".
 * - `reasoning_effort`: "qwen3 models support `none` to disable reasoning and `default` or null to
 *   use the model default"; `low`/`medium`/`high` belong to other models (gpt-oss, qwen3.8).
 *
 * The upstream side: Qwen3's chat template thinks unless `enable_thinking: false` is passed to it
 * (Qwen3 model card, "Switching Between Thinking and Non-Thinking Mode"). vLLM's chat request
 * carries template arguments as `chat_template_kwargs`, and LMI v18's async handler
 * (djl-serving v0.36.0 `lmi_vllm/vllm_async_service.py`) builds vLLM's `ChatCompletionRequest` from
 * the whole body, so the field reaches the template. With `OPTION_REASONING_PARSER=qwen3` (LMI's
 * `reasoning_parser` property, handed to vLLM's `OpenAIServingChat`) vLLM splits the thinking out
 * of the content into `reasoning` (vLLM docs "Reasoning Outputs"; named `reasoning_content` before
 * vLLM PR #27752, which kept the old name beside it until PR #33402): both names are read here.
 * Reasoning tokens are generated and billed as output tokens whatever the format (they are in
 * vLLM's `completion_tokens`), as Groq bills them.
 */

export const REASONING_FORMATS = ['parsed', 'raw', 'hidden'] as const;
export type ReasoningFormat = (typeof REASONING_FORMATS)[number];
export const REASONING_EFFORTS = ['none', 'default', 'low', 'medium', 'high'] as const;
/** What Groq's Qwen3 models take (groq-sdk 1.6.0 `reasoning_effort`). */
const QWEN3_EFFORTS: ReadonlySet<string> = new Set(['none', 'default']);

export const REASONING_PARAMETERS = [
  'reasoning_format',
  'include_reasoning',
  'reasoning_effort',
] as const;

export interface ReasoningPlan {
  /** How the reasoning reaches the client. */
  format: ReasoningFormat;
  /** Whether the model thinks at all (`reasoning_effort: none` turns it off). */
  thinking: boolean;
}

/**
 * The reasoning a request asks for on `model`, or undefined for a model that does not think (then
 * the reasoning parameters are refused, 400 naming the one given). Throws 400 naming the parameter
 * for a value the model does not take.
 */
export function planReasoning(
  request: Pick<
    ChatRequest,
    'reasoning_format' | 'include_reasoning' | 'reasoning_effort' | 'response_format' | 'tools'
  >,
  model: Pick<ModelConfig, 'reasoning'>,
  modelId: string,
): ReasoningPlan | undefined {
  if (!model.reasoning) {
    const given = REASONING_PARAMETERS.find((p) => request[p] !== undefined && request[p] !== null);
    if (given) {
      throw new BadRequestError(
        `'${given}' is not supported by model \`${modelId}\`: it is not a reasoning model.`,
        { param: given, code: 'unsupported_parameter' },
      );
    }
    return undefined;
  }
  const effort = request.reasoning_effort;
  if (effort != null && !QWEN3_EFFORTS.has(effort)) {
    throw new BadRequestError(
      `'reasoning_effort' must be 'none' or 'default' for \`${modelId}\`; got '${effort}'.`,
      { param: 'reasoning_effort', code: 'invalid_value' },
    );
  }
  // Groq: JSON mode and tool use do not support `raw`.
  const structured =
    (request.response_format != null && request.response_format.type !== 'text') ||
    (request.tools != null && request.tools.length > 0);
  if (request.reasoning_format === 'raw' && structured) {
    throw new BadRequestError(
      "'reasoning_format' cannot be 'raw' with JSON mode or tools: use 'parsed' or 'hidden'.",
      { param: 'reasoning_format', code: 'invalid_value' },
    );
  }
  const format: ReasoningFormat =
    request.reasoning_format ??
    (request.include_reasoning === true
      ? 'parsed'
      : request.include_reasoning === false
        ? 'hidden'
        : structured
          ? 'parsed'
          : 'raw');
  return { format, thinking: effort !== 'none' };
}

/**
 * The body LMI/vLLM takes: Groq's parameters out (vLLM has no such fields), Qwen3's template told
 * not to think when `reasoning_effort` is `none`.
 */
export function reasoningUpstream(
  body: Record<string, unknown>,
  plan: ReasoningPlan | undefined,
): Record<string, unknown> {
  const out = { ...body };
  for (const param of REASONING_PARAMETERS) delete out[param];
  if (plan && !plan.thinking) out.chat_template_kwargs = { enable_thinking: false };
  return out;
}

type UpstreamReasoning = { reasoning?: string | null; reasoning_content?: string | null };

/** The reasoning vLLM's parser split out, under either of its names. */
function reasoningOf(part: UpstreamReasoning): string | undefined {
  const text = part.reasoning ?? part.reasoning_content;
  return typeof text === 'string' && text.length > 0 ? text : undefined;
}

/** The message as the client asked for it: `reasoning` kept, put back in `<think>` tags, or dropped. */
export function messageWithReasoning(
  message: AssistantMessage & UpstreamReasoning,
  plan: ReasoningPlan | undefined,
): AssistantMessage {
  const { reasoning_content: _old, reasoning: _new, ...rest } = message;
  const reasoning = reasoningOf(message);
  if (!plan || reasoning === undefined || plan.format === 'hidden') return rest;
  if (plan.format === 'parsed') return { ...rest, reasoning };
  // vLLM's qwen3 parser cuts the text at the tags and keeps what lies between: put together again
  // it is what the model wrote.
  return { ...rest, content: `<think>${reasoning}</think>${rest.content ?? ''}` };
}

export function completionWithReasoning(
  completion: ChatCompletion,
  plan: ReasoningPlan | undefined,
): ChatCompletion {
  return {
    ...completion,
    choices: completion.choices.map((choice) => ({
      ...choice,
      message: messageWithReasoning(choice.message, plan),
    })),
  };
}

/**
 * The same for a stream, chunk by chunk. `raw` opens `<think>` with the first reasoning delta and
 * closes it before the first content (or the finish, when the model stopped while thinking).
 * A chunk left with nothing to say (hidden reasoning) is dropped, unless it carries the role or the
 * finish reason.
 */
export class ReasoningStream {
  private readonly open = new Set<number>();

  constructor(private readonly plan: ReasoningPlan | undefined) {}

  push(chunk: ChatCompletionChunk): ChatCompletionChunk | undefined {
    if (chunk.choices.length === 0) return chunk;
    const choices = chunk.choices
      .map((choice) => ({ ...choice, delta: this.delta(choice.index, choice.delta, choice) }))
      .filter(
        (choice) =>
          choice.finish_reason != null ||
          choice.delta.role !== undefined ||
          choice.delta.content != null ||
          choice.delta.reasoning !== undefined ||
          choice.delta.tool_calls !== undefined,
      );
    return choices.length > 0 ? { ...chunk, choices } : undefined;
  }

  private delta(
    index: number,
    delta: ChunkDelta & UpstreamReasoning,
    choice: { finish_reason: unknown },
  ): ChunkDelta {
    const { reasoning_content: _old, reasoning: _new, ...rest } = delta;
    const reasoning = reasoningOf(delta);
    if (!this.plan || this.plan.format === 'hidden') return rest;
    if (this.plan.format === 'parsed')
      return reasoning === undefined ? rest : { ...rest, reasoning };
    let text = '';
    if (reasoning !== undefined) {
      if (!this.open.has(index)) text += '<think>';
      this.open.add(index);
      text += reasoning;
    }
    const ends =
      (typeof rest.content === 'string' && rest.content.length > 0) || choice.finish_reason;
    if (this.open.has(index) && ends) {
      text += '</think>';
      this.open.delete(index);
    }
    if (text === '') return rest;
    return { ...rest, content: text + (rest.content ?? '') };
  }
}
