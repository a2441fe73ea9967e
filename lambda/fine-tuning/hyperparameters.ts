import * as z from 'zod/mini';
import { BadRequestError } from '../openai/errors';
import { field, nestedSchema, optional } from '../openai/request-body';

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

const auto = (value: unknown) => value === undefined || value === null || value === 'auto';

/** `"auto"` (or absent) or an integer from 1 to `max`; the 400 names the full parameter. */
const integerOrAuto = (param: string, max: number) =>
  field(
    optional(
      z.custom<number | 'auto'>(
        (value) =>
          auto(value) ||
          (typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= max),
      ),
    ),
    `'${param}' must be "auto" or an integer from 1 to ${max}.`,
    'invalid_value',
  );

const multiplierOrAuto = (param: string) =>
  field(
    optional(
      z.custom<number | 'auto'>(
        (value) =>
          auto(value) ||
          (typeof value === 'number' &&
            Number.isFinite(value) &&
            value > 0 &&
            value <= MAX_LEARNING_RATE_MULTIPLIER),
      ),
    ),
    `'${param}' must be "auto" or a number above 0 and at most ${MAX_LEARNING_RATE_MULTIPLIER}.`,
    'invalid_value',
  );

/** The hyperparameters object at `where`: unknown names refused first, then each value. */
const hyperparametersSchema = (where: string) =>
  nestedSchema(
    where,
    {
      n_epochs: integerOrAuto(`${where}.n_epochs`, MAX_EPOCHS),
      batch_size: integerOrAuto(`${where}.batch_size`, MAX_BATCH_SIZE),
      learning_rate_multiplier: multiplierOrAuto(`${where}.learning_rate_multiplier`),
    },
    {
      unknownField: {
        message: (param) => `Unknown hyperparameter '${param}'.`,
        code: 'unknown_parameter',
      },
    },
  );

const HYPERPARAMETERS = {
  hyperparameters: hyperparametersSchema('hyperparameters'),
  'method.supervised.hyperparameters': hyperparametersSchema('method.supervised.hyperparameters'),
};

/**
 * `method`: only `supervised` runs here; a field of another method is refused once the type passed
 * (so `{type: "dpo", dpo: {...}}` answers about the type).
 */
const METHOD = nestedSchema(
  'method',
  {
    type: field(
      z.literal('supervised'),
      (type) =>
        `Fine-tuning method '${String(type)}' is not supported: LoRA jobs here are 'supervised'.`,
      'invalid_value',
    ),
  },
  {
    checkedElsewhere: ['supervised'],
    unknownField: {
      message: (param) => `'${param}' does not apply to supervised fine-tuning.`,
      code: 'invalid_value',
      after: true,
    },
  },
);

/** `method.supervised`: an object whose `hyperparameters` are judged next; its other fields unused. */
const SUPERVISED = nestedSchema(
  'method.supervised',
  {},
  { unknownField: 'ignore', checkedElsewhere: ['hyperparameters'] },
);

function fromObject(value: unknown, where: keyof typeof HYPERPARAMETERS): RequestedHyperparameters {
  const checked = HYPERPARAMETERS[where].check(value);
  const or = <T>(given: T | 'auto' | null | undefined): T | 'auto' =>
    given === undefined || given === null ? 'auto' : given;
  return {
    nEpochs: or(checked?.n_epochs),
    batchSize: or(checked?.batch_size),
    learningRateMultiplier: or(checked?.learning_rate_multiplier),
  };
}

/**
 * The hyperparameters of a create request: `method: {type: "supervised", supervised:
 * {hyperparameters}}`, or the deprecated top-level `hyperparameters` (OpenAI refuses both at once;
 * so does Tierline).
 */
export function requestedHyperparameters(body: Record<string, unknown>): RequestedHyperparameters {
  const { hyperparameters } = body;
  if (METHOD.check(body.method) === undefined)
    return fromObject(hyperparameters, 'hyperparameters');
  const supervised = SUPERVISED.check((body.method as Record<string, unknown>).supervised);
  const nested = supervised?.hyperparameters;
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
