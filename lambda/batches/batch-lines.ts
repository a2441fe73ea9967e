import type { TierlineConfig, TierName } from '../../lib/config/schema';
import { parseChatRequest } from '../inference/chat-request';
import { resolveModel } from '../inference/models';
import { PromptTokenCounter } from '../inference/prompt-tokens';
import { planReasoning, type ReasoningPlan, reasoningUpstream } from '../inference/reasoning';
import { checkContextWindow, promptPastWindow } from '../inference/tokens';
import { costMicroUsd, pricesOf } from '../metering/pricing';
import { BadRequestError, HttpError } from '../openai/errors';
import { ownValue } from '../own';
import {
  chatRequestOf,
  parseResponsesRequest,
  type ResponsesRequest,
  responsesParamName,
} from '../responses/responses-request';

/** The endpoint a batch runs when none is named (the first one batches ran). */
export const BATCH_ENDPOINT = '/v1/chat/completions';
/** The endpoints a batch may run: chat completions, or OpenAI's Responses API. */
export const BATCH_ENDPOINTS = [BATCH_ENDPOINT, '/v1/responses'] as const;
export type BatchEndpoint = (typeof BATCH_ENDPOINTS)[number];

/** A line that can run: what the worker sends the model, and the most it may cost. */
export interface RunnableLine {
  customId: string;
  model: string;
  /** The validated chat body, `model` and `stream` removed, `max_tokens` set. */
  body: Record<string, unknown>;
  promptTokens: number;
  maxTokens: number;
  /** Prompt tokens + max tokens at the tier's batch price: what the spend reservation holds for this line. */
  maxCostMicroUsd: number;
  /** A fine-tuned model's adapter on its base model (the line's `model` is the `ft:` id). */
  adapter?: { baseModel: string; name: string };
  /** The tier's fine-tuning premium on the base model's prices (0 for a base model). */
  premiumPercent: number;
  /** How a thinking model's reasoning reaches the output file (as chat answers it). */
  reasoning?: ReasoningPlan;
  /** A `/v1/responses` line: its request, which the output line's Response object echoes. */
  responses?: ResponsesRequest;
}

/**
 * The caller's ready fine-tuned models, by `ft:` id, loaded once per batch message (one Query): a
 * batch line may name one of them and nobody else's.
 */
export type BatchFineTunes = ReadonlyMap<string, { baseModel: string; adapterName: string }>;

/** A line whose request is invalid: it goes to the error file with this status and error, the batch runs on. */
export interface RejectedLine {
  customId: string;
  /**
   * What the line holds of the batch's reservation: 0, but for an `ft:` model that is gone (deleted
   * since the batch was validated): its reservation, worked out from the id alone, is the same at
   * validation and run.
   */
  reservedMicroUsd?: number;
  statusCode: number;
  error: { message: string; type: string; param: string | null; code: string | null };
}

/** A problem that stops the whole file (it cannot run): reported in the batch's `errors` with its line. */
export interface FileProblem {
  code: string;
  message: string;
  line: number;
  param: string | null;
}

export type ParsedLine =
  | { kind: 'run'; line: RunnableLine }
  | { kind: 'reject'; line: RejectedLine }
  | { kind: 'fail'; problem: FileProblem };

function problem(
  line: number,
  code: string,
  message: string,
  param: string | null = null,
): ParsedLine {
  return { kind: 'fail', problem: { code, message: `Line ${line}: ${message}`, line, param } };
}

/**
 * The tokenizers `parseBatchLine` counts with for a tier's lines (those of the models it offers):
 * load them before parsing (the worker does at each message; a loaded tokenizer stays for the
 * process, about 1 s of CPU each).
 */
export function loadBatchTokenizers(config: TierlineConfig, tier: TierName): Promise<void> {
  return new PromptTokenCounter(config).warmUp(Object.keys(config.tiers[tier].models));
}

/**
 * Checks one line of a batch input file (1-based `lineNumber`). Its prompt is counted as a chat
 * completion's is at admission (the model's tokenizer over its chat template, tools included:
 * `PromptTokenCounter`), and its output allowance is the one chat would reserve
 * (`max_completion_tokens`, or the model's maximum within what the context window leaves), so a
 * line holds what the same request would hold online. The tokenizers must be loaded ({@link
 * loadBatchTokenizers}). The envelope (`custom_id`, `method`, `url`, `body`) must be right or the
 * file cannot run; a body that is not a valid chat completion for this tier is the line's own
 * error, answered in the error file as the API would have answered it.
 */
export function parseBatchLine(
  text: string,
  lineNumber: number,
  config: TierlineConfig,
  tier: TierName,
  fineTunes: BatchFineTunes = new Map(),
  endpoint: BatchEndpoint = BATCH_ENDPOINT,
): ParsedLine {
  const envelope = parseEnvelope(text, lineNumber, endpoint);
  if ('kind' in envelope) return envelope;
  try {
    if (endpoint === '/v1/responses')
      return checkResponsesLine(envelope.customId, envelope.body, config, tier, fineTunes);
    return checkLineRequest(envelope.customId, envelope.body, config, tier, fineTunes);
  } catch (error) {
    if (error instanceof HttpError) {
      return {
        kind: 'reject',
        line: rejected(
          envelope.customId,
          error.status,
          error.message,
          error.param,
          error.code,
          error.type,
        ),
      };
    }
    throw error;
  }
}

/**
 * The envelope of a line (`custom_id`, `method`, `url`, `body`): a line whose envelope is wrong
 * cannot run, and fails the file.
 */
function parseEnvelope(
  text: string,
  lineNumber: number,
  endpoint: BatchEndpoint,
): ParsedLine | { customId: string; body: Record<string, unknown> } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return problem(lineNumber, 'invalid_json_line', 'not valid JSON.');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return problem(lineNumber, 'invalid_json_line', 'not a JSON object.');
  }
  const line = value as Record<string, unknown>;
  const customId = line.custom_id;
  if (typeof customId !== 'string' || customId === '' || customId.length > 512) {
    return problem(
      lineNumber,
      'missing_custom_id',
      "'custom_id' must be a string of 1 to 512 characters.",
      'custom_id',
    );
  }
  if (line.method !== 'POST')
    return problem(lineNumber, 'invalid_method', "'method' must be 'POST'.", 'method');
  if (line.url !== endpoint) {
    return problem(
      lineNumber,
      'invalid_url',
      `'url' must be '${endpoint}', the batch's endpoint.`,
      'url',
    );
  }
  if (typeof line.body !== 'object' || line.body === null || Array.isArray(line.body)) {
    return problem(
      lineNumber,
      'missing_body',
      `'body' must be a request object for ${endpoint}.`,
      'body',
    );
  }
  return { customId, body: line.body as Record<string, unknown> };
}

/**
 * A `/v1/responses` line: checked as `POST /v1/responses` checks its body, then run as the chat
 * request it becomes (the same limits, prices and batch discount). Nothing is stored by a batch,
 * so `previous_response_id` cannot name an earlier turn and `store: true` is not honoured: both are
 * the line's 400.
 */
function checkResponsesLine(
  customId: string,
  body: Record<string, unknown>,
  config: TierlineConfig,
  tier: TierName,
  fineTunes: BatchFineTunes,
): ParsedLine {
  const request = parseResponsesRequest(body);
  for (const param of ['previous_response_id', 'store'] as const) {
    if (request[param]) {
      throw new BadRequestError(
        `'${param}' is not supported in a batch: its output file is kept.`,
        {
          param,
          code: 'unsupported_parameter',
        },
      );
    }
  }
  const chat = chatRequestOf(request, []);
  const baseModel = request.model.startsWith('ft:')
    ? (request.model.split(':')[1] ?? '')
    : request.model;
  // A reasoning model's thinking comes apart, as a reasoning item (what `POST /v1/responses` does).
  const thinks = ownValue(config.models, baseModel)?.reasoning !== undefined;
  try {
    const parsed = checkLineRequest(
      customId,
      thinks ? { ...chat, reasoning_format: 'parsed' } : chat,
      config,
      tier,
      fineTunes,
    );
    return parsed.kind === 'run'
      ? { kind: 'run', line: { ...parsed.line, responses: { ...request, store: false } } }
      : parsed;
  } catch (error) {
    // The chat check names chat's parameters: the line's error names the Responses ones.
    if (
      error instanceof HttpError &&
      error.param &&
      responsesParamName(error.param) !== error.param
    ) {
      const param = responsesParamName(error.param);
      throw new BadRequestError(error.message.replaceAll(`'${error.param}'`, `'${param}'`), {
        param,
        code: error.code ?? undefined,
      });
    }
    throw error;
  }
}

/**
 * A line's chat completion request, checked as chat would check it for this tier, with what it
 * holds: its prompt tokens, output allowance and the most it can cost. An HttpError thrown here is
 * the line's own error.
 */
function checkLineRequest(
  customId: string,
  body: Record<string, unknown>,
  config: TierlineConfig,
  tier: TierName,
  fineTunes: BatchFineTunes,
): ParsedLine {
  const request = parseChatRequest(body);
  if (request.stream) {
    return {
      kind: 'reject',
      line: rejected(customId, 400, "'stream' is not supported in a batch.", 'stream'),
    };
  }
  const fineTuned = request.model.startsWith('ft:');
  // An `ft:` id names its base model (`ft:<base>:...`): limits, windows and prices are the base
  // model's.
  const baseModel = fineTuned ? (request.model.split(':')[1] ?? '') : request.model;
  // 404 or 403 for a model this tier cannot use.
  const { model: modelConfig } = resolveModel(config, tier, baseModel);
  const reasoning = planReasoning(request, modelConfig, request.model);
  const requested = request.max_completion_tokens ?? request.max_tokens;
  const modelMax = ownValue(config.models, baseModel)?.maxOutputTokens ?? 0;
  if (requested != null && requested > modelMax) {
    return {
      kind: 'reject',
      line: rejected(
        customId,
        400,
        `'max_completion_tokens' must be at most ${modelMax}; got ${requested}.`,
        'max_completion_tokens',
      ),
    };
  }
  // The base model's window and tokenizer, as chat counts an `ft:` model's prompt (the `ft:` id has
  // neither: its prompt was counted a token per byte, with no window).
  const { contextWindow } = modelConfig;
  // Counting stops past the context window, as chat's does: a line over it is refused whatever its
  // size, and a batch file may hold one line of 200 MB (16 MB took 9 s of CPU to count whole).
  const promptTokens = new PromptTokenCounter(config).countLoadedUpTo(
    baseModel,
    request.messages,
    { tools: request.tools ?? undefined },
    contextWindow,
  );
  // 400 context_length_exceeded for a line that cannot fit, as chat answers before anything is
  // reserved.
  if (promptTokens > contextWindow) throw promptPastWindow(request.model, contextWindow);
  const room = checkContextWindow(
    request.model,
    contextWindow,
    promptTokens,
    requested ?? undefined,
  );
  const maxTokens = requested ?? Math.min(modelMax, room);
  const {
    model: _model,
    stream: _stream,
    stream_options: _options,
    max_completion_tokens: _m,
    max_tokens: _t,
    ...rest
  } = request as Record<string, unknown>;
  const offer = ownValue(config.tiers[tier].models, baseModel);
  const premiumPercent = fineTuned ? config.tiers[tier].lora.premiumPercent : 0;
  const maxCostMicroUsd = offer
    ? costMicroUsd(
        { inputTokens: promptTokens, outputTokens: maxTokens },
        pricesOf(offer, premiumPercent),
        config.tiers[tier].batch.discountPercent,
      )
    : 0;
  const fineTune = fineTuned ? fineTunes.get(request.model) : undefined;
  if (
    fineTuned &&
    (!fineTune || fineTune.baseModel !== baseModel || !config.tiers[tier].lora.allowed)
  ) {
    const line = unservedFineTune(customId, request.model, config, tier);
    return { kind: 'reject', line: { ...line, reservedMicroUsd: maxCostMicroUsd } };
  }
  return {
    kind: 'run',
    line: {
      customId,
      model: request.model,
      body: reasoningUpstream({ ...rest, max_tokens: maxTokens }, reasoning),
      promptTokens,
      maxTokens,
      maxCostMicroUsd,
      premiumPercent,
      ...(reasoning ? { reasoning } : {}),
      ...(fineTune ? { adapter: { baseModel, name: fineTune.adapterName } } : {}),
    },
  };
}

/**
 * An `ft:` model that is not the caller's (or gone, or the tier lost LoRA): answered in the error
 * file, never sent to a model, which would serve the base model for an adapter it does not know.
 */
function unservedFineTune(
  customId: string,
  model: string,
  config: TierlineConfig,
  tier: TierName,
): RejectedLine {
  return config.tiers[tier].lora.allowed
    ? rejected(
        customId,
        404,
        `The model \`${model}\` does not exist or you do not have access to it.`,
        'model',
        'model_not_found',
      )
    : rejected(
        customId,
        403,
        `LoRA models are not available on the ${tier} tier.`,
        'model',
        'lora_not_available_on_tier',
        'permission_error',
      );
}

function rejected(
  customId: string,
  statusCode: number,
  message: string,
  param: string | null,
  code: string | null = 'invalid_value',
  type = 'invalid_request_error',
): RejectedLine {
  return { customId, statusCode, error: { message, type, param, code } };
}

/** Splits JSONL text into its non-blank lines with their 1-based numbers (`firstLine` is the number of the first). */
export function linesOf(text: string, firstLine = 1): { number: number; text: string }[] {
  const out: { number: number; text: string }[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() !== '') out.push({ number: firstLine + i, text: line });
  });
  return out;
}

/** What a batch input file holds: its lines, their problems, the most they cost and the tokens per model. */
export interface BatchScan {
  lines: number;
  /** The file's problems, `too_many_lines` first; a file with any does not run. */
  problems: FileProblem[];
  maxCost: number;
  enqueued: Map<string, number>;
}

/**
 * Checks the lines of a batch input file (`parseBatchLine`), custom ids unique, lines within the
 * tier's cap. The lines past the cap are only counted, not parsed: the file cannot run, and its
 * `too_many_lines` names how many it has (the CPU of a scan is what the tier admits, not what the
 * file holds). The file's problems are looked for first, in every line's envelope, and prompts are
 * counted only in a file that has none: a file that cannot run never costs its prompts' counting
 * (a broken last line after 19 MB of prompts cost 7.3 s of CPU, 200 MB would cost over a minute).
 */
export function scanBatchFile(
  text: string,
  config: TierlineConfig,
  tier: TierName,
  fineTunes: BatchFineTunes,
  endpoint: BatchEndpoint,
): BatchScan {
  const limit = config.tiers[tier].batch.maxLinesPerBatch;
  const seen = new Set<string>();
  const problems: FileProblem[] = [];
  const lines = eachLineWithin(text, limit, (raw, lineNumber) => {
    const envelope = parseEnvelope(raw, lineNumber, endpoint);
    if ('kind' in envelope) {
      if (envelope.kind === 'fail') problems.push(envelope.problem);
      return;
    }
    const { customId } = envelope;
    if (seen.has(customId)) {
      problems.push({
        code: 'duplicate_custom_id',
        message: `Line ${lineNumber}: custom_id '${customId}' is used twice.`,
        line: lineNumber,
        param: 'custom_id',
      });
    }
    seen.add(customId);
  });
  if (lines > limit)
    problems.unshift({
      code: 'too_many_lines',
      message: `The file has ${lines} lines; a batch takes at most ${limit}.`,
      line: limit + 1,
      param: null,
    });
  let maxCost = 0;
  const enqueued = new Map<string, number>();
  if (problems.length > 0) return { lines, problems, maxCost, enqueued };
  eachLineWithin(text, limit, (raw, lineNumber) => {
    const parsed = parseBatchLine(raw, lineNumber, config, tier, fineTunes, endpoint);
    // Its envelope passed above: a line here runs or is refused by itself.
    if (parsed.kind === 'fail') problems.push(parsed.problem);
    if (parsed.kind === 'run') {
      maxCost += parsed.line.maxCostMicroUsd;
      const { model, promptTokens, maxTokens } = parsed.line;
      enqueued.set(model, (enqueued.get(model) ?? 0) + promptTokens + maxTokens);
    }
    if (parsed.kind === 'reject') maxCost += parsed.line.reservedMicroUsd ?? 0;
  });
  return { lines, problems, maxCost, enqueued };
}

/**
 * Calls `visit` with each non-blank line among the first `limit` (and its 1-based number), and
 * answers how many non-blank lines the text has. Line by line without splitting the whole text:
 * a line past the cap costs a look at its first characters.
 */
function eachLineWithin(
  text: string,
  limit: number,
  visit: (raw: string, lineNumber: number) => void,
): number {
  let lines = 0;
  let lineNumber = 0;
  for (let start = 0; start <= text.length; ) {
    const newline = text.indexOf('\n', start);
    const end = newline === -1 ? text.length : newline;
    lineNumber += 1;
    if (!isBlank(text, start, end)) {
      lines += 1;
      if (lines <= limit) visit(text.slice(start, end), lineNumber);
    }
    start = end + 1;
  }
  return lines;
}

/** White space as `String.prototype.trim` and `\s` know it, tried at one position. */
const WHITE_SPACE = /\s/y;

/**
 * Whether `text` holds only white space from `start` to `end` (what `slice().trim() === ''` says,
 * without copying the line): a line of JSON answers at its first character.
 */
function isBlank(text: string, start: number, end: number): boolean {
  for (let at = start; at < end; at += 1) {
    const code = text.charCodeAt(at);
    if (code === 0x20 || (code >= 0x09 && code <= 0x0d)) continue;
    if (code < 0x80) return false;
    WHITE_SPACE.lastIndex = at;
    if (!WHITE_SPACE.test(text)) return false;
  }
  return true;
}
