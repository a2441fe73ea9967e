import * as z from 'zod/mini';
import { BadRequestError } from './errors';

/**
 * Create bodies (fine-tuning jobs, batches) validated by a zod/mini schema, as chat completions
 * are, where each field answers one 400 of its own: the message and code OpenAI's API gives for
 * that field, `param` the field. Chat words its errors from the issue's kind
 * (`lambda/inference/request-errors.ts`); these routes name the one rule a field keeps ("must be 1
 * to 64 letters ..."), so the rule's message is declared beside its schema.
 */

/** Said of the value a field refused: a fixed text, or one that names the value (`Model x cannot be ...`). */
type Answer = string | ((value: unknown) => string);

/** One field: its schema, and the 400 any value it refuses gets. */
export interface FieldRule<S extends z.ZodMiniType = z.ZodMiniType> {
  schema: S;
  message: Answer;
  code: Answer;
}

export const field = <S extends z.ZodMiniType>(
  schema: S,
  message: Answer,
  code: Answer,
): FieldRule<S> => ({
  schema,
  message,
  code,
});

const say = (answer: Answer, value: unknown) =>
  typeof answer === 'string' ? answer : answer(value);

/** Optional, and `null` taken as absent (the official clients send either). */
export const optional = <T extends z.ZodMiniType>(schema: T) => z.optional(z.nullable(schema));

/** What a body that passed holds: each declared field as its schema types it, the others left unknown. */
export type CheckedBody<R extends Record<string, FieldRule>> = {
  [K in keyof R]: z.output<R[K]['schema']>;
} & Record<string, unknown>;

export interface BodySchema<R extends Record<string, FieldRule> = Record<string, FieldRule>> {
  /**
   * The body itself, typed, when every field keeps its rule; else throws the 400 of the first that
   * does not. The body, not zod's copy: the values are the ones that were checked, whatever zod's
   * output would drop.
   */
  check(body: Record<string, unknown>): CheckedBody<R>;
}

/**
 * OpenAI's `metadata`: at most 16 pairs, keys up to 64 characters, values strings up to 512. A
 * predicate, not `z.record`: zod's record skips a `__proto__` key, which `JSON.parse` makes an own
 * property, so a value there would go unchecked and vanish from the output.
 */
export const metadataField = field(
  optional(
    z.custom<Record<string, string>>((value) => {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
      const entries = Object.entries(value);
      return (
        entries.length <= 16 &&
        entries.every(([k, v]) => k.length <= 64 && typeof v === 'string' && v.length <= 512)
      );
    }),
  ),
  "'metadata' must be an object of at most 16 string values (keys up to 64 characters, values up to 512).",
  'invalid_value',
);

/** The metadata of a body `metadataField` passed, as its own copy (null when none was sent). */
export function metadataOf(value: unknown): Record<string, string> | null {
  if (value === undefined || value === null) return null;
  return Object.fromEntries(Object.entries(value as Record<string, string>));
}

/**
 * A display name (keys, projects): required, at most `max` characters once trimmed, no control
 * characters. One field, two answers: a missing or blank name gets `requiredMessage`, a long or
 * unprintable one the length rule.
 */
export function displayNameField(requiredMessage: string, max: number): FieldRule {
  const given = (value: unknown) => typeof value === 'string' && value.trim() !== '';
  const printable = (name: string) => name !== '' && name.length <= max && !/\p{Cc}/u.test(name);
  return field(
    z.string().check(z.refine((value) => printable(value.trim()))),
    (value) =>
      given(value)
        ? `'name' must be at most ${max} characters without control characters.`
        : requiredMessage,
    (value) => (given(value) ? 'invalid_value' : 'missing_required_parameter'),
  );
}

/** A JSON body that is not an object (an array, a string, null) judged as an empty object. */
export const asBodyObject = (body: unknown): Record<string, unknown> =>
  typeof body === 'object' && body !== null && !Array.isArray(body)
    ? (body as Record<string, unknown>)
    : {};

export interface BodySchemaOptions {
  /** Cuts the unknown field's name echoed in the message (a body may hold a 1 MB key); `param` stays whole. */
  unknownKeyLength?: number;
  /** Fields the body may hold whose values a check of their own judges after this one (nested settings). */
  checkedElsewhere?: readonly string[];
  /** A nested object's path (`lora`, `method.supervised.hyperparameters`): each `param` is `<where>.<field>`. */
  where?: string;
  /**
   * How an unknown field is answered: refused first with OpenAI's `Unrecognized request argument`
   * (the default), refused with a message of its own (`after`: only once every declared field
   * passed), or ignored (a body OpenAI's clients may add fields to that Tierline does not use).
   */
  unknownField?: 'ignore' | { message: (param: string) => string; code: string; after?: boolean };
}

/**
 * An unknown field is refused first (`Unrecognized request argument supplied: x`, as OpenAI
 * answers), then the fields are judged in the order they are declared, so a body with several
 * faults always gets the same one.
 */
export function bodySchema<R extends Record<string, FieldRule>>(
  rules: R,
  options: BodySchemaOptions = {},
): BodySchema<R> {
  const shape: Record<string, z.ZodMiniType> = Object.fromEntries(
    Object.entries(rules).map(([name, rule]) => [name, rule.schema]),
  );
  for (const name of options.checkedElsewhere ?? []) shape[name] = z.optional(z.unknown());
  const { unknownField } = options;
  const schema = unknownField === 'ignore' ? z.looseObject(shape) : z.strictObject(shape);
  const order = Object.keys(rules);
  const param = (name: string) => (options.where ? `${options.where}.${name}` : name);
  const refuseUnknown = (key: string) => {
    if (unknownField !== undefined && unknownField !== 'ignore') {
      throw new BadRequestError(unknownField.message(param(key)), {
        param: param(key),
        code: unknownField.code,
      });
    }
    const shown =
      options.unknownKeyLength === undefined ? key : key.slice(0, options.unknownKeyLength);
    throw new BadRequestError(`Unrecognized request argument supplied: ${shown}`, {
      param: param(key),
      code: 'unknown_parameter',
    });
  };
  return {
    check(body) {
      const result = schema.safeParse(body);
      if (result.success) return body as CheckedBody<R>;
      const { issues } = result.error;
      const unknown = issues.find((issue) => issue.code === 'unrecognized_keys');
      const unknownKey =
        unknown?.code === 'unrecognized_keys' ? String(unknown.keys[0]) : undefined;
      const unknownLast =
        unknownField !== undefined && unknownField !== 'ignore' && unknownField.after;
      if (unknownKey !== undefined && !unknownLast) refuseUnknown(unknownKey);
      const failed = new Set(
        issues.filter((issue) => issue.code !== 'unrecognized_keys').map((i) => String(i.path[0])),
      );
      const name = order.find((key) => failed.has(key));
      const rule: FieldRule | undefined = name === undefined ? undefined : rules[name];
      if (name === undefined || rule === undefined) {
        if (unknownKey !== undefined) refuseUnknown(unknownKey);
        throw new BadRequestError('Invalid request.');
      }
      const value = body[name];
      throw new BadRequestError(say(rule.message, value), {
        param: param(name),
        code: say(rule.code, value),
      });
    },
  };
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * A nested settings object (`lora`, `method`, `method.supervised.hyperparameters`): absent or
 * `null` gives undefined; anything but an object is `'<where>' must be an object.`; an object is
 * judged by its schema, each 400 naming `<where>.<field>`.
 */
export function nestedSchema<R extends Record<string, FieldRule>>(
  where: string,
  rules: R,
  options: Omit<BodySchemaOptions, 'where'> = {},
): { check(value: unknown): CheckedBody<R> | undefined } {
  const schema = bodySchema(rules, { ...options, where });
  return {
    check(value) {
      if (value === undefined || value === null) return undefined;
      if (!isPlainObject(value)) {
        throw new BadRequestError(`'${where}' must be an object.`, {
          param: where,
          code: 'invalid_type',
        });
      }
      return schema.check(value);
    },
  };
}
