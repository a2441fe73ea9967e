import type { FineTuningConfig, ModelConfig } from '../../lib/config/schema';
import type { ChatMessage } from '../inference/chat-request';
import { BadRequestError } from '../openai/errors';

/**
 * The check of a training (or validation) file before anything is launched: OpenAI's chat
 * fine-tuning format, one conversation per line (`{"messages": [{"role", "content", "weight"?},
 * ...]}`), the same rules as the training script's (training/lora/tierline_lora/chat_data.py, with
 * the same line numbers), at least `minExamples` conversations, and the tokens of each conversation
 * counted with the base model's tokenizer (what the cost estimate multiplies by the epochs). The
 * file is read as a stream, one line at a time. A conversation longer than the training sequence
 * cap is refused here with its line number, before anything is launched or reserved: the script
 * would otherwise train on a truncated conversation (or, with no cap, run out of GPU memory hours
 * into the job).
 */

/**
 * Most tokens of one training conversation on `model`: the configured cap, never more than the
 * model's context. The training job receives the same number as max_seq_length (workflow-tasks.ts
 * `prepare`).
 */
export function trainingSequenceCap(
  config: FineTuningConfig,
  model: Pick<ModelConfig, 'contextWindow'>,
): number {
  return Math.min(config.training.maxSequenceTokens, model.contextWindow);
}

const ROLES = ['system', 'user', 'assistant'] as const;
/** Problems named in one error message; the rest are counted. */
const MAX_NAMED_PROBLEMS = 5;

export interface TrainingFileSummary {
  examples: number;
  /** Tokens of every conversation as the base model's chat template renders it. */
  tokens: number;
}

/** Counts a conversation's tokens with the model's tokenizer (`PromptTokenCounter` in the API). */
export type ConversationTokens = (model: string, messages: ChatMessage[]) => Promise<number>;

function textOf(content: unknown, where: string): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((part, j) => {
        const p = part as { type?: unknown; text?: unknown } | null;
        if (p?.type !== 'text' || typeof p.text !== 'string') {
          throw new Error(
            `${where}.content[${j}] must be a text part {"type": "text", "text": ...}`,
          );
        }
        return p.text;
      })
      .join('');
  }
  throw new Error(`${where}.content must be a string or a list of text parts`);
}

/** The messages of one line (OpenAI's chat format), or an Error whose message says what is wrong. */
export function parseTrainingLine(raw: string): ChatMessage[] {
  let record: unknown;
  try {
    record = JSON.parse(raw);
  } catch (error) {
    throw new Error(`not valid JSON (${(error as Error).message})`);
  }
  const messages = (record as { messages?: unknown } | null)?.messages;
  if (
    typeof record !== 'object' ||
    record === null ||
    Array.isArray(record) ||
    !Array.isArray(messages)
  ) {
    throw new Error('must be an object with a "messages" array');
  }
  let learnable = false;
  const parsed = messages.map((message: unknown, i): ChatMessage => {
    const where = `messages[${i}]`;
    if (typeof message !== 'object' || message === null || Array.isArray(message)) {
      throw new Error(`${where} must be an object`);
    }
    const m = message as { role?: unknown; content?: unknown; weight?: unknown };
    if (!ROLES.includes(m.role as (typeof ROLES)[number])) {
      throw new Error(
        `${where}.role must be one of ${ROLES.join(', ')} (got ${JSON.stringify(m.role) ?? 'nothing'})`,
      );
    }
    const content = textOf(m.content, where);
    if (m.role !== 'system' && content.trim() === '') throw new Error(`${where}.content is empty`);
    const weight = m.weight ?? 1;
    if (m.role === 'assistant') {
      if (weight !== 0 && weight !== 1) throw new Error(`${where}.weight must be 0 or 1`);
      if (weight === 1) learnable = true;
    }
    return { role: m.role as 'system' | 'user' | 'assistant', content } as ChatMessage;
  });
  if (!learnable)
    throw new Error('needs at least one assistant message to learn from (with weight 1)');
  return parsed;
}

/** Lines of a stream of UTF-8 chunks, numbered from 1 (a last line without a newline included). */
async function* linesOf(
  chunks: AsyncIterable<Uint8Array>,
): AsyncIterable<{ number: number; text: string }> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let pending = '';
  let number = 0;
  for await (const chunk of chunks) {
    pending += decoder.decode(chunk, { stream: true });
    let newline = pending.indexOf('\n');
    while (newline >= 0) {
      number += 1;
      yield { number, text: pending.slice(0, newline) };
      pending = pending.slice(newline + 1);
      newline = pending.indexOf('\n');
    }
  }
  pending += decoder.decode();
  if (pending !== '') yield { number: number + 1, text: pending };
}

/**
 * Reads and checks the file; throws a 400 with `param` (`training_file` or `validation_file`)
 * naming up to five lines when it cannot be trained on.
 */
export async function checkTrainingFile(input: {
  fileId: string;
  param: 'training_file' | 'validation_file';
  bytes: number;
  content: AsyncIterable<Uint8Array>;
  model: string;
  config: FineTuningConfig;
  countTokens: ConversationTokens;
  /** Most tokens of one conversation (`trainingSequenceCap`); absent: fineTuning.training.maxSequenceTokens. */
  maxSequenceTokens?: number;
}): Promise<TrainingFileSummary> {
  const { training } = input.config;
  const fail = (message: string, code = 'invalid_training_file') =>
    new BadRequestError(`File ${input.fileId}: ${message}`, { param: input.param, code });
  if (input.bytes > training.maxFileBytes) {
    throw fail(
      `it has ${input.bytes} bytes; a training file may have at most ${training.maxFileBytes} (every line is ` +
        'checked and its tokens counted before the job is created).',
      'file_too_large',
    );
  }
  const cap = input.maxSequenceTokens ?? training.maxSequenceTokens;
  const problems: string[] = [];
  let problemCount = 0;
  const tooLong: string[] = [];
  let tooLongCount = 0;
  let examples = 0;
  let tokens = 0;
  try {
    for await (const line of linesOf(input.content)) {
      if (line.text.trim() === '') continue;
      try {
        const messages = parseTrainingLine(line.text);
        const lineTokens = await input.countTokens(input.model, messages);
        examples += 1;
        tokens += lineTokens;
        if (lineTokens > cap) {
          tooLongCount += 1;
          if (tooLong.length < MAX_NAMED_PROBLEMS)
            tooLong.push(`line ${line.number} (${lineTokens} tokens)`);
        }
      } catch (error) {
        problemCount += 1;
        if (problems.length < MAX_NAMED_PROBLEMS)
          problems.push(`line ${line.number}: ${(error as Error).message}`);
      }
    }
  } catch (error) {
    // TextDecoder's fatal mode (checked by code: its TypeError may come from another realm).
    if ((error as { code?: unknown }).code === 'ERR_ENCODING_INVALID_ENCODED_DATA')
      throw fail('it is not UTF-8 text.');
    throw error;
  }
  if (problemCount > 0) {
    const more =
      problemCount > problems.length ? ` (and ${problemCount - problems.length} more lines)` : '';
    throw fail(
      `it is not in the chat fine-tuning format ({"messages": [{"role": ..., "content": ...}]} per line): ` +
        `${problems.join('; ')}${more}.`,
    );
  }
  if (tooLongCount > 0) {
    const more =
      tooLongCount > tooLong.length ? ` (and ${tooLongCount - tooLong.length} more lines)` : '';
    throw fail(
      `a training example may have at most ${cap} tokens (the training sequence cap), and these are longer: ` +
        `${tooLong.join(', ')}${more}. Shorten or split those conversations.`,
      'training_example_too_long',
    );
  }
  if (input.param === 'training_file' && examples < training.minExamples) {
    throw fail(
      `it has ${examples} examples; a training file needs at least ${training.minExamples}.`,
      'too_few_examples',
    );
  }
  if (examples === 0) throw fail('it has no examples.', 'too_few_examples');
  return { examples, tokens };
}
