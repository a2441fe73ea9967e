import { BadRequestError } from '../openai/errors';

/**
 * The bounds of a structured-output JSON schema (chat's `response_format.json_schema.schema`,
 * Responses' `text.format.schema`). A schema costs no prompt tokens here (it constrains decoding,
 * it is not rendered into the prompt), yet a stored response echoes it for 30 days: unbounded, it was
 * storage nobody paid for. OpenAI's Structured Outputs guide ("Supported schemas") documents the
 * first three limits (and 10 levels of nesting, not applied: how it counts them is not said); they bound names and values, not descriptions, so the size bound is ours.
 */

/** OpenAI's: at most 5,000 object properties in all. */
export const MAX_SCHEMA_PROPERTIES = 5_000;
/** OpenAI's: the total string length of property names, definition names, enum and const values. */
export const MAX_SCHEMA_STRING_LENGTH = 120_000;
/** OpenAI's: at most 1,000 enum values across the schema. */
export const MAX_SCHEMA_ENUM_VALUES = 1_000;
/**
 * Ours: the schema's JSON, in UTF-8 bytes. Room for a strict schema at OpenAI's limits (5,000
 * properties whose names fill the 120,000 characters, each named again in `required`, is 360 KB);
 * what OpenAI leaves unbounded (descriptions) is refused past it.
 */
export const MAX_SCHEMA_BYTES = 512 * 1024;

/** Keywords whose object value maps names to subschemas: the names count, the subschemas are walked. */
const NAMED_SUBSCHEMAS = new Set(['properties', '$defs', 'definitions']);
/** Keywords whose value is data, not a schema: never walked as one (a `default` may hold any key). */
const DATA_KEYWORDS = new Set(['default', 'examples', 'enum', 'const']);

interface SchemaTally {
  properties: number;
  stringLength: number;
  enumValues: number;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * Counts as OpenAI does. Iterative, so no nesting overflows it (the parsers refuse bodies nested
 * past 64 levels before this runs anyway).
 */
function tally(schema: unknown): SchemaTally {
  const counts: SchemaTally = { properties: 0, stringLength: 0, enumValues: 0 };
  const stack: unknown[] = [schema];
  while (stack.length > 0) {
    const node = stack.pop();
    if (Array.isArray(node)) {
      // `anyOf`, `prefixItems` and the like: each element a subschema.
      stack.push(...node);
      continue;
    }
    if (!isObject(node)) continue;
    for (const [keyword, value] of Object.entries(node)) {
      if (NAMED_SUBSCHEMAS.has(keyword) && isObject(value)) {
        const names = Object.keys(value);
        if (keyword === 'properties') counts.properties += names.length;
        for (const name of names) counts.stringLength += name.length;
        stack.push(...Object.values(value));
      } else if (keyword === 'enum' && Array.isArray(value)) {
        counts.enumValues += value.length;
        for (const entry of value)
          if (typeof entry === 'string') counts.stringLength += entry.length;
      } else if (keyword === 'const' && typeof value === 'string') {
        counts.stringLength += value.length;
      } else if (!DATA_KEYWORDS.has(keyword)) {
        stack.push(value);
      }
    }
  }
  return counts;
}

/** Refuses a schema past OpenAI's Structured Outputs limits or {@link MAX_SCHEMA_BYTES}: a 400 naming `param`. */
export function refuseOversizedSchema(schema: unknown, param: string): void {
  if (schema === undefined) return;
  const refuse = (limit: string) => {
    throw new BadRequestError(`Invalid '${param}': a schema may ${limit}.`, {
      param,
      code: 'invalid_value',
    });
  };
  const bytes = Buffer.byteLength(JSON.stringify(schema));
  if (bytes > MAX_SCHEMA_BYTES)
    refuse(`be at most ${MAX_SCHEMA_BYTES} bytes of JSON; this one is ${bytes}`);
  const counts = tally(schema);
  if (counts.properties > MAX_SCHEMA_PROPERTIES)
    refuse(
      `have at most ${MAX_SCHEMA_PROPERTIES} object properties in all; this one has ${counts.properties}`,
    );
  if (counts.stringLength > MAX_SCHEMA_STRING_LENGTH)
    refuse(
      `have at most ${MAX_SCHEMA_STRING_LENGTH} characters of property names, definition names, enum and const values in all; this one has ${counts.stringLength} characters`,
    );
  if (counts.enumValues > MAX_SCHEMA_ENUM_VALUES)
    refuse(
      `have at most ${MAX_SCHEMA_ENUM_VALUES} enum values in all; this one has ${counts.enumValues}`,
    );
}
