import * as z from 'zod/mini';
import { BadRequestError } from '../openai/errors';

/**
 * Turns a validation issue into the 400 a client can act on, in OpenAI's words: a wrong type says
 * which type was expected and which was sent, a missing field says it is required, an out-of-range
 * value gives the bound. Works on zod's issue objects (classic and mini share them).
 */

interface Issue {
  code: string;
  path: PropertyKey[];
  message: string;
  expected?: string;
  values?: unknown[];
  origin?: string;
  maximum?: number | bigint;
  minimum?: number | bigint;
  inclusive?: boolean;
  keys?: string[];
  errors?: Issue[][];
  discriminator?: string;
  note?: string;
}

/** Deeper than this, a request is refused before anything walks it (recursion would overflow the stack). */
export const MAX_NESTING_DEPTH = 64;

/** `messages[0].content` style, as OpenAI names nested parameters. */
export function paramOf(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, part) => {
    if (typeof part === 'number') return `${out}[${part}]`;
    return out ? `${out}.${String(part)}` : String(part);
  }, '');
}

function valueAt(body: unknown, path: readonly PropertyKey[]): unknown {
  let node = body;
  for (const key of path) {
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, key)) return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'an integer' : 'a decimal';
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}

const EXPECTED: Record<string, string> = {
  number: 'a number',
  int: 'an integer',
  string: 'a string',
  boolean: 'a boolean',
  array: 'an array',
  object: 'an object',
  record: 'an object',
};
const expectedName = (expected: string | undefined) =>
  EXPECTED[expected ?? ''] ?? expected ?? 'another type';

/** The types a union accepts, when every branch failed on the type of the value itself. */
function unionTypes(issue: Issue): string[] | undefined {
  const types = (issue.errors ?? []).map((branch) => {
    const first = branch[0];
    return first?.code === 'invalid_type' && first.path.length === 0
      ? expectedName(first.expected)
      : undefined;
  });
  if (types.length === 0 || types.some((t) => t === undefined)) return undefined;
  return [...new Set(types as string[])];
}

/**
 * The most telling issue. In a union, the branch that got past the type of the value itself (a
 * `stop` array that is too long, not "expected a string"), preferring the one that went deepest.
 */
function deepest(issue: Issue): { issue: Issue; path: PropertyKey[] } {
  if (issue.code === 'invalid_union' && issue.errors && !unionTypes(issue)) {
    const telling = issue.errors
      .map((branch) => branch[0])
      .filter(
        (first): first is Issue =>
          first !== undefined && !(first.code === 'invalid_type' && first.path.length === 0),
      )
      .sort((a, b) => b.path.length - a.path.length)[0];
    if (telling) {
      const inner = deepest(telling);
      return { issue: inner.issue, path: [...issue.path, ...inner.path] };
    }
  }
  return { issue, path: issue.path };
}

/** The JSON Schema of a request schema, made once and only when a bound error needs it (not at cold start). */
const jsonSchemas = new WeakMap<z.ZodMiniType, Record<string, unknown>>();

/**
 * True when the schema types the top-level parameter as an integer. OpenAI words a bound error by
 * the parameter's type, not the value's: `temperature: 3` is `decimal_above_max_value`,
 * `max_tokens: 0` is `integer_below_min_value` (zod's issue does not tell `z.int()` from
 * `z.number()`).
 */
function isIntegerParameter(
  schema: z.ZodMiniType | undefined,
  path: readonly PropertyKey[],
): boolean | undefined {
  if (!schema || path.length !== 1) return undefined;
  let json = jsonSchemas.get(schema);
  if (!json) {
    json = z.toJSONSchema(schema, { io: 'input' }) as Record<string, unknown>;
    jsonSchemas.set(schema, json);
  }
  const property = (json.properties as Record<string, Record<string, unknown>> | undefined)?.[
    String(path[0])
  ];
  if (!property) return undefined;
  const types = [
    property,
    ...((property.anyOf as Record<string, unknown>[] | undefined) ?? []),
  ].map((s) => s.type);
  if (types.includes('integer')) return true;
  return types.includes('number') ? false : undefined;
}

/** The 400 for the first validation issue; `schema` (the one that was validated against) words bound errors. */
export function requestError(
  issues: readonly unknown[],
  body: unknown,
  schema?: z.ZodMiniType,
): BadRequestError {
  const first = issues[0] as Issue | undefined;
  if (!first) return new BadRequestError('Invalid request.');
  if (first.code === 'unrecognized_keys') {
    const param = paramOf([...first.path, first.keys?.[0] ?? '']);
    return new BadRequestError(`Unrecognized request argument supplied: ${param}`, {
      param,
      code: 'unknown_parameter',
    });
  }
  const { issue, path } = deepest(first);
  const param = paramOf(path) || null;
  const value = valueAt(body, path);
  const name = `'${param}'`;
  if (value === undefined && (issue.code === 'invalid_type' || issue.code === 'invalid_union')) {
    return new BadRequestError(`${name} is a required property.`, {
      param,
      code: 'missing_required_parameter',
    });
  }
  switch (issue.code) {
    case 'invalid_type':
      return new BadRequestError(
        `Invalid type for ${name}: expected ${expectedName(issue.expected)}, but got ${typeName(value)} instead.`,
        { param, code: 'invalid_type' },
      );
    case 'invalid_union': {
      if (issue.discriminator) {
        // zod puts the path at the discriminator itself (`messages[0].role`).
        return new BadRequestError(
          `Invalid value for ${name}: ${JSON.stringify(value) ?? 'nothing'} is not one of the supported values.`,
          { param, code: 'invalid_value' },
        );
      }
      const types = unionTypes(issue);
      if (types) {
        return new BadRequestError(
          `Invalid type for ${name}: expected ${types.join(' or ')}, but got ${typeName(value)} instead.`,
          { param, code: 'invalid_type' },
        );
      }
      return new BadRequestError(`Invalid value for ${name}.`, { param, code: 'invalid_value' });
    }
    case 'invalid_value':
      return new BadRequestError(
        `Invalid value for ${name}: ${JSON.stringify(value)}. Supported values are: ${(
          issue.values ?? []
        )
          .map((v) => JSON.stringify(v))
          .join(', ')}.`,
        { param, code: 'invalid_value' },
      );
    case 'too_big':
    case 'too_small':
      return boundError(issue, name, param, value, isIntegerParameter(schema, path));
    default:
      return new BadRequestError(`Invalid value for ${name}: ${issue.message}.`, {
        param,
        code: 'invalid_value',
      });
  }
}

/**
 * Refuses a body nested deeper than {@link MAX_NESTING_DEPTH}, naming the top-level parameter,
 * before any recursive code (the schema, the prompt estimate, JSON.stringify) walks it. Iterative,
 * so it cannot overflow.
 */
export function refuseDeepNesting(body: Record<string, unknown>): void {
  for (const [param, root] of Object.entries(body)) {
    const stack: [unknown, number][] = [[root, 1]];
    while (stack.length > 0) {
      const [node, depth] = stack.pop() as [unknown, number];
      if (node === null || typeof node !== 'object') continue;
      if (depth > MAX_NESTING_DEPTH) {
        throw new BadRequestError(
          `'${param}' is nested too deeply: at most ${MAX_NESTING_DEPTH} levels of objects and arrays.`,
          { param, code: 'invalid_value' },
        );
      }
      for (const child of Object.values(node)) stack.push([child, depth + 1]);
    }
  }
}

/** OpenAI's wording and codes for a value out of range, e.g. `decimal_above_max_value`. */
function boundError(
  issue: Issue,
  name: string,
  param: string | null,
  value: unknown,
  integerParameter: boolean | undefined,
): BadRequestError {
  const above = issue.code === 'too_big';
  const bound = above ? issue.maximum : issue.minimum;
  if (issue.origin === 'array' || issue.origin === 'string') {
    const length = (value as unknown[] | string).length;
    const unit = issue.origin === 'array' ? 'an array' : 'a string';
    return new BadRequestError(
      `Invalid ${name}: ${issue.origin} too ${above ? 'long' : 'short'}. Expected ${unit} with ${above ? 'maximum' : 'minimum'} length ${bound}, but got ${unit} with length ${length} instead.`,
      { param, code: `${issue.origin}_${above ? 'above_max' : 'below_min'}_length` },
    );
  }
  const kind = (integerParameter ?? Number.isInteger(value)) ? 'integer' : 'decimal';
  const relation = above
    ? issue.inclusive === false
      ? '<'
      : '<='
    : issue.inclusive === false
      ? '>'
      : '>=';
  return new BadRequestError(
    `Invalid ${name}: ${kind} ${above ? 'above maximum' : 'below minimum'} value. Expected a value ${relation} ${bound}, but got ${JSON.stringify(value)} instead.`,
    { param, code: `${kind}_${above ? 'above_max' : 'below_min'}_value` },
  );
}
