import { BadRequestError } from '../openai/errors';

/**
 * A job's hyperparameters as the API takes them (OpenAI's `method.supervised.hyperparameters`, or
 * the deprecated top-level `hyperparameters`), checked and with "auto" resolved, so the job shows
 * (and its cost estimate uses) the values the training script will run with. The rules and bounds
 * are the script's (training/lora/tierline_lora/hyperparameters.py): both must change together.
 */

// OpenAI's rule for "auto" epochs: aim at 3, keeping the examples seen between 100 and 25,000 (1 to
// 25 epochs).
const TARGET_EPOCHS = 3;
const MIN_TARGET_EXAMPLES = 100;
const MAX_TARGET_EXAMPLES = 25_000;
const MAX_AUTO_EPOCHS = 25;
const MAX_EPOCHS = 50;
/** "auto" batch size: about 0.2% of the examples, from 1 to 256 (OpenAI's documented bound). */
export const MAX_BATCH_SIZE = 256;
const MAX_LEARNING_RATE_MULTIPLIER = 10;

export interface ResolvedHyperparameters {
  nEpochs: number;
  batchSize: number;
  learningRateMultiplier: number;
}

export function autoEpochs(examples: number): number {
  if (examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES) {
    return Math.min(MAX_AUTO_EPOCHS, Math.ceil(MIN_TARGET_EXAMPLES / examples));
  }
  if (examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES)
    return Math.max(1, Math.floor(MAX_TARGET_EXAMPLES / examples));
  return TARGET_EPOCHS;
}

export function autoBatchSize(examples: number): number {
  return Math.max(1, Math.min(MAX_BATCH_SIZE, Math.ceil(examples * 0.002)));
}

/** What the request asked for, before the training file is read ("auto" still open). */
export interface RequestedHyperparameters {
  nEpochs: number | 'auto';
  batchSize: number | 'auto';
  learningRateMultiplier: number | 'auto';
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function integerOrAuto(value: unknown, param: string, max: number): number | 'auto' {
  if (value === undefined || value === null || value === 'auto') return 'auto';
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw new BadRequestError(`'${param}' must be "auto" or an integer from 1 to ${max}.`, {
      param,
      code: 'invalid_value',
    });
  }
  return value;
}

function multiplierOrAuto(value: unknown, param: string): number | 'auto' {
  if (value === undefined || value === null || value === 'auto') return 'auto';
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    value <= 0 ||
    value > MAX_LEARNING_RATE_MULTIPLIER
  ) {
    throw new BadRequestError(
      `'${param}' must be "auto" or a number above 0 and at most ${MAX_LEARNING_RATE_MULTIPLIER}.`,
      { param, code: 'invalid_value' },
    );
  }
  return value;
}

function fromObject(value: unknown, where: string): RequestedHyperparameters {
  if (value === undefined || value === null)
    return { nEpochs: 'auto', batchSize: 'auto', learningRateMultiplier: 'auto' };
  if (!isPlainObject(value))
    throw new BadRequestError(`'${where}' must be an object.`, {
      param: where,
      code: 'invalid_type',
    });
  for (const key of Object.keys(value)) {
    if (!['n_epochs', 'batch_size', 'learning_rate_multiplier'].includes(key)) {
      throw new BadRequestError(`Unknown hyperparameter '${where}.${key}'.`, {
        param: `${where}.${key}`,
        code: 'unknown_parameter',
      });
    }
  }
  return {
    nEpochs: integerOrAuto(value.n_epochs, `${where}.n_epochs`, MAX_EPOCHS),
    batchSize: integerOrAuto(value.batch_size, `${where}.batch_size`, MAX_BATCH_SIZE),
    learningRateMultiplier: multiplierOrAuto(
      value.learning_rate_multiplier,
      `${where}.learning_rate_multiplier`,
    ),
  };
}

/**
 * The hyperparameters of a create request: `method: {type: "supervised", supervised:
 * {hyperparameters}}`, or the deprecated top-level `hyperparameters` (OpenAI refuses both at once;
 * so does Tierline).
 */
export function requestedHyperparameters(body: Record<string, unknown>): RequestedHyperparameters {
  const { method, hyperparameters } = body;
  if (method === undefined || method === null)
    return fromObject(hyperparameters, 'hyperparameters');
  if (!isPlainObject(method))
    throw new BadRequestError("'method' must be an object.", {
      param: 'method',
      code: 'invalid_type',
    });
  if (method.type !== 'supervised') {
    throw new BadRequestError(
      `Fine-tuning method '${String(method.type)}' is not supported: LoRA jobs here are 'supervised'.`,
      { param: 'method.type', code: 'invalid_value' },
    );
  }
  for (const key of Object.keys(method)) {
    if (key !== 'type' && key !== 'supervised') {
      throw new BadRequestError(`'method.${key}' does not apply to supervised fine-tuning.`, {
        param: `method.${key}`,
        code: 'invalid_value',
      });
    }
  }
  const supervised = method.supervised;
  if (supervised !== undefined && supervised !== null && !isPlainObject(supervised)) {
    throw new BadRequestError("'method.supervised' must be an object.", {
      param: 'method.supervised',
      code: 'invalid_type',
    });
  }
  const nested = isPlainObject(supervised) ? supervised.hyperparameters : undefined;
  if (
    hyperparameters !== undefined &&
    hyperparameters !== null &&
    nested !== undefined &&
    nested !== null
  ) {
    throw new BadRequestError(
      "Give the hyperparameters in 'method.supervised.hyperparameters' only: the top-level 'hyperparameters' is deprecated.",
      { param: 'hyperparameters', code: 'invalid_value' },
    );
  }
  return nested !== undefined && nested !== null
    ? fromObject(nested, 'method.supervised.hyperparameters')
    : fromObject(hyperparameters, 'hyperparameters');
}

/** "auto" resolved for a training file of `examples` conversations. */
export function resolveHyperparameters(
  requested: RequestedHyperparameters,
  examples: number,
): ResolvedHyperparameters {
  return {
    nEpochs: requested.nEpochs === 'auto' ? autoEpochs(examples) : requested.nEpochs,
    batchSize: requested.batchSize === 'auto' ? autoBatchSize(examples) : requested.batchSize,
    learningRateMultiplier:
      requested.learningRateMultiplier === 'auto' ? 1 : requested.learningRateMultiplier,
  };
}
