import * as z from 'zod/mini';
import {
  BadRequestError,
  HttpError,
  NotFoundError,
  PermissionDeniedError,
} from '../../../lambda/openai/errors';
import {
  bodySchema,
  field,
  metadataField,
  metadataOf,
  nestedSchema,
  optional,
} from '../../../lambda/openai/request-body';

const schema = bodySchema(
  {
    name: field(
      z.string().check(z.minLength(1)),
      "Missing required parameter: 'name'.",
      'missing_required_parameter',
    ),
    size: field(
      optional(z.int().check(z.gte(1))),
      (value) => `'size' must be a positive integer (got ${JSON.stringify(value)}).`,
      (value) => (typeof value === 'number' ? 'integer_below_min_value' : 'invalid_type'),
    ),
    metadata: metadataField,
  },
  { unknownKeyLength: 5, checkedElsewhere: ['nested'] },
);

function refusal(body: Record<string, unknown>) {
  try {
    schema.check(body);
  } catch (error) {
    expect(error).toBeInstanceOf(BadRequestError);
    return (error as BadRequestError).toBody().error;
  }
  throw new Error('the body passed');
}

describe('create bodies checked by a zod/mini schema, each field answering its own 400', () => {
  it('answers a body that keeps every rule with the body itself, null taken as absent, other fields left alone', () => {
    const body = { name: 'a', size: null, nested: { anything: [1] } };
    expect(schema.check(body)).toBe(body);
  });

  it('refuses an unknown field first, naming it whole in param and cut in the message', () => {
    expect(refusal({ size: 'x', unknownfield: 1 })).toEqual({
      message: 'Unrecognized request argument supplied: unkno',
      type: 'invalid_request_error',
      param: 'unknownfield',
      code: 'unknown_parameter',
    });
    // JSON.parse makes `__proto__` an own field: it is unknown like any other.
    expect(refusal(JSON.parse('{"name":"a","__proto__":1}'))).toMatchObject({ param: '__proto__' });
  });

  it('judges the fields in the order they are declared, whatever the order of the body', () => {
    expect(refusal({ metadata: 5, size: 0 })).toMatchObject({
      param: 'name',
      code: 'missing_required_parameter',
    });
    expect(refusal({ metadata: 5, size: 0, name: 'a' })).toEqual({
      message: "'size' must be a positive integer (got 0).",
      type: 'invalid_request_error',
      param: 'size',
      code: 'integer_below_min_value',
    });
    expect(refusal({ name: 'a', size: '1' })).toMatchObject({ code: 'invalid_type' });
  });

  it("holds OpenAI's metadata rule, including a value under a `__proto__` key", () => {
    const ok = Object.fromEntries(
      Array.from({ length: 16 }, (_, i) => [`k${i}`.padEnd(64, 'x'), 'v'.repeat(512)]),
    );
    expect(() => schema.check({ name: 'a', metadata: ok })).not.toThrow();
    for (const metadata of [
      [],
      'x',
      { a: 5 },
      { ['k'.repeat(65)]: 'v' },
      { a: 'v'.repeat(513) },
      { ...ok, one: 'more' },
      JSON.parse('{"__proto__": 5}'),
    ]) {
      expect(refusal({ name: 'a', metadata })).toEqual({
        message:
          "'metadata' must be an object of at most 16 string values (keys up to 64 characters, values up to 512).",
        type: 'invalid_request_error',
        param: 'metadata',
        code: 'invalid_value',
      });
    }
    expect(metadataOf(JSON.parse('{"__proto__": "kept", "a": "b"}'))).toEqual(
      JSON.parse('{"__proto__":"kept","a":"b"}'),
    );
    expect(metadataOf(null)).toBeNull();
  });
});

function refusalOf(check: () => unknown) {
  try {
    check();
  } catch (error) {
    expect(error).toBeInstanceOf(BadRequestError);
    return (error as BadRequestError).toBody().error;
  }
  throw new Error('the value passed');
}

describe('nested settings (lora, method, hyperparameters) checked by the same schemas', () => {
  const settings = nestedSchema(
    'lora',
    {
      rank: field(optional(z.literal(8)), "'lora.rank' must be 8.", 'invalid_value'),
      alpha: field(optional(z.int()), "'lora.alpha' must be an integer.", 'invalid_value'),
    },
    {
      unknownField: {
        message: (param) => `Unknown LoRA setting '${param}'.`,
        code: 'unknown_parameter',
      },
    },
  );
  const method = nestedSchema(
    'method',
    {
      type: field(
        z.literal('supervised'),
        (t) => `Method '${String(t)}' is not supported.`,
        'invalid_value',
      ),
    },
    {
      unknownField: {
        message: (p) => `'${p}' does not apply.`,
        code: 'invalid_value',
        after: true,
      },
    },
  );

  it('takes absent or null as not given, and answers a value that is not an object naming the path', () => {
    expect(settings.check(undefined)).toBeUndefined();
    expect(settings.check(null)).toBeUndefined();
    for (const value of ['x', 3, [1]]) {
      expect(refusalOf(() => settings.check(value))).toEqual({
        message: "'lora' must be an object.",
        type: 'invalid_request_error',
        param: 'lora',
        code: 'invalid_type',
      });
    }
    expect(settings.check({ rank: 8, alpha: null })).toEqual({ rank: 8, alpha: null });
  });

  it("names each field by its path, and words an unknown one as the caller's rule says, first", () => {
    expect(refusalOf(() => settings.check({ rank: 4 }))).toMatchObject({
      message: "'lora.rank' must be 8.",
      param: 'lora.rank',
    });
    expect(refusalOf(() => settings.check({ rank: 4, dropout: 0.1 }))).toMatchObject({
      message: "Unknown LoRA setting 'lora.dropout'.",
      param: 'lora.dropout',
      code: 'unknown_parameter',
    });
  });

  it('with `after`, answers an unknown field only once the declared fields passed', () => {
    expect(refusalOf(() => method.check({ type: 'dpo', dpo: {} }))).toMatchObject({
      message: "Method 'dpo' is not supported.",
      param: 'method.type',
    });
    expect(refusalOf(() => method.check({ type: 'supervised', dpo: {} }))).toEqual({
      message: "'method.dpo' does not apply.",
      type: 'invalid_request_error',
      param: 'method.dpo',
      code: 'invalid_value',
    });
  });

  it("ignores unknown fields where told to (bodies OpenAI's clients may add to)", () => {
    const loose = bodySchema(
      { bytes: field(z.int(), "'bytes' must be an integer.", 'invalid_value') },
      { unknownField: 'ignore' },
    );
    expect(loose.check({ bytes: 3, expires_after: {} })).toEqual({ bytes: 3, expires_after: {} });
    expect(refusalOf(() => loose.check({ bytes: 'x', other: 1 }))).toMatchObject({
      param: 'bytes',
    });
  });
});

describe('one error constructor shape: (message, { param, code, headers })', () => {
  it('puts param, code and headers where the body and the response read them, with each class its defaults', () => {
    const bad = new BadRequestError('m', { param: 'p', code: 'c' });
    expect(bad.toBody()).toEqual({
      error: { message: 'm', type: 'invalid_request_error', param: 'p', code: 'c' },
    });
    expect(new BadRequestError('m').toBody().error).toMatchObject({ param: null, code: null });
    expect(new NotFoundError('m').toBody().error).toMatchObject({ param: null, code: 'not_found' });
    expect(new NotFoundError('m', { code: null }).code).toBeNull();
    expect(new PermissionDeniedError('m').code).toBe('permission_denied');
    const limited = new HttpError(429, 'tokens', 'm', {
      code: 'rate_limit_exceeded',
      headers: { 'retry-after': '1' },
    });
    expect([limited.status, limited.type, limited.code, limited.param, limited.headers]).toEqual([
      429,
      'tokens',
      'rate_limit_exceeded',
      null,
      { 'retry-after': '1' },
    ]);
  });
});
