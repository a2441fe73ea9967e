import {
  MAX_SCHEMA_BYTES,
  MAX_SCHEMA_ENUM_VALUES,
  MAX_SCHEMA_PROPERTIES,
  MAX_SCHEMA_STRING_LENGTH,
  refuseOversizedSchema,
} from '../../../lambda/inference/json-schema-bounds';
import { BadRequestError } from '../../../lambda/openai/errors';

const PARAM = 'text.format.schema';

function refusal(schema: unknown) {
  try {
    refuseOversizedSchema(schema, PARAM);
  } catch (error) {
    if (!(error instanceof BadRequestError)) throw error;
    return { message: error.message, param: error.param, code: error.code };
  }
  throw new Error('accepted');
}

/** An object schema with `count` string properties named `p0`, `p1`, ... */
const objectOf = (count: number, name = (i: number) => `p${i}`) => ({
  type: 'object',
  properties: Object.fromEntries(
    Array.from({ length: count }, (_, i) => [name(i), { type: 'string' }]),
  ),
});

describe("a JSON schema's bounds (OpenAI's Structured Outputs limits, and its size)", () => {
  it('accepts a schema at each limit', () => {
    // Strict, as OpenAI requires: every property named again in `required`. 5,000 names of 24
    // characters fill the 120,000.
    const atLimits = {
      ...objectOf(MAX_SCHEMA_PROPERTIES, (i) => String(i).padStart(24, 'p')),
      additionalProperties: false,
    };
    const strict = { ...atLimits, required: Object.keys(atLimits.properties) };
    expect(() => refuseOversizedSchema(strict, PARAM)).not.toThrow();
    expect(Buffer.byteLength(JSON.stringify(strict))).toBeGreaterThan(256 * 1024);
    const enumValues = Array.from({ length: MAX_SCHEMA_ENUM_VALUES }, (_, i) => `v${i}`);
    expect(() => refuseOversizedSchema({ type: 'string', enum: enumValues }, PARAM)).not.toThrow();
    expect(() => refuseOversizedSchema(undefined, PARAM)).not.toThrow();
  });

  it('refuses more than 5,000 object properties in all, counting nested and $defs ones', () => {
    const half = MAX_SCHEMA_PROPERTIES / 2;
    const schema = {
      type: 'object',
      properties: { a: objectOf(half - 1), b: { $ref: '#/$defs/c' } },
      $defs: { c: objectOf(half) },
    };
    // 2 + (half - 1) + half = 5,001.
    expect(refusal(schema)).toEqual({
      message: `Invalid '${PARAM}': a schema may have at most ${MAX_SCHEMA_PROPERTIES} object properties in all; this one has ${MAX_SCHEMA_PROPERTIES + 1}.`,
      param: PARAM,
      code: 'invalid_value',
    });
  });

  it('refuses more than 120,000 characters of property and definition names, enum and const values', () => {
    const name = 'n'.repeat(MAX_SCHEMA_STRING_LENGTH / 4);
    const schema = {
      type: 'object',
      properties: { [name]: { type: 'string', const: name } },
      $defs: { [name]: { type: 'string', enum: [name, 'x'] } },
    };
    expect(refusal(schema)).toMatchObject({ param: PARAM, code: 'invalid_value' });
    expect(refusal(schema).message).toContain(`${MAX_SCHEMA_STRING_LENGTH + 1} characters`);
  });

  it('refuses more than 1,000 enum values in all', () => {
    const values = (n: number) => Array.from({ length: n }, (_, i) => i);
    const schema = {
      anyOf: [
        { type: 'integer', enum: values(MAX_SCHEMA_ENUM_VALUES / 2) },
        { type: 'integer', enum: values(MAX_SCHEMA_ENUM_VALUES / 2 + 1) },
      ],
    };
    expect(refusal(schema).message).toContain(`at most ${MAX_SCHEMA_ENUM_VALUES} enum values`);
  });

  it('refuses a schema whose JSON passes 512 KiB: OpenAI bounds names, not descriptions, and it is stored', () => {
    const schema = { type: 'object', description: 'd'.repeat(MAX_SCHEMA_BYTES) };
    expect(refusal(schema)).toEqual({
      message: `Invalid '${PARAM}': a schema may be at most ${MAX_SCHEMA_BYTES} bytes of JSON; this one is ${Buffer.byteLength(JSON.stringify(schema))}.`,
      param: PARAM,
      code: 'invalid_value',
    });
  });

  it('counts a property named like a keyword as a name, not as the keyword', () => {
    const schema = {
      type: 'object',
      properties: { enum: { type: 'string' }, properties: { type: 'string' } },
    };
    expect(() => refuseOversizedSchema(schema, PARAM)).not.toThrow();
  });
});
