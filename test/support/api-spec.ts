import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';

/**
 * An OpenAPI 3.1 document as a validator: finds the operation of a request (method and path, with
 * `/v1` or `/openai/v1` in front) and validates request bodies, response bodies and stream chunks
 * against the schemas the document gives for them, `$ref`s resolved by Ajv (JSON Schema 2020-12,
 * the dialect of OpenAPI 3.1).
 */

const repoRoot = path.join(__dirname, '..', '..');
/** OpenAI's published spec, vendored with its licence and provenance (`test/fixtures/openai-openapi/README.md`). */
export const OPENAI_SPEC_FILE = path.join(
  repoRoot,
  'test',
  'fixtures',
  'openai-openapi',
  'openai-openapi-subset.json',
);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

export interface OpenApiDocument {
  paths: Record<string, Record<string, JsonObject>>;
  components?: JsonObject;
  [key: string]: unknown;
}

/**
 * OpenAI's file still has a few OpenAPI 3.0 leftovers (its README says so): `nullable: true` and
 * the boolean `exclusiveMinimum`/`exclusiveMaximum`. They become their JSON Schema 2020-12
 * equivalents.
 */
export function fromOpenApi30(node: Json): Json {
  if (Array.isArray(node)) return node.map(fromOpenApi30);
  if (node === null || typeof node !== 'object') return node;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) out[key] = fromOpenApi30(value);
  for (const [bound, exclusive] of [
    ['minimum', 'exclusiveMinimum'],
    ['maximum', 'exclusiveMaximum'],
  ] as const) {
    if (typeof out[exclusive] === 'boolean') {
      if (out[exclusive] === true && typeof out[bound] === 'number') out[exclusive] = out[bound];
      else delete out[exclusive];
      if (out[exclusive] !== undefined) delete out[bound];
    }
  }
  if (out.nullable === true) {
    delete out.nullable;
    if (typeof out.type === 'string') {
      out.type = [out.type, 'null'];
      if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
      return out;
    }
    const { description, ...rest } = out;
    return {
      ...(description !== undefined ? { description } : {}),
      anyOf: [rest, { type: 'null' }],
    };
  }
  if (out.nullable === false) delete out.nullable;
  return out;
}

/**
 * OpenAI's speech-to-text answers are a `oneOf` of open objects that overlap: a `verbose_json`
 * transcription has every field of the `json` one too, so a real OpenAI answer matches two branches
 * and fails `oneOf`. Read there as `anyOf` (it must match one of them at least).
 */
function audioAnswersAsAnyOf(document: OpenApiDocument): OpenApiDocument {
  for (const path of ['/audio/transcriptions', '/audio/translations']) {
    const content = (document.paths[path]?.post as JsonObject | undefined)?.responses as
      | Record<string, { content?: Record<string, { schema?: JsonObject }> }>
      | undefined;
    const schema = content?.['200']?.content?.['application/json']?.schema;
    if (schema?.oneOf) {
      schema.anyOf = schema.oneOf;
      delete schema.oneOf;
    }
  }
  return document;
}

const escapePointer = (segment: string) => segment.replace(/~/g, '~0').replace(/\//g, '~1');

export interface Operation {
  /** The path as the document writes it, e.g. `/models/{model}`. */
  template: string;
  method: string;
  definition: JsonObject;
  pointer: string;
}

export class ApiSpec {
  private readonly ajv: Ajv2020;
  private readonly routes: { template: string; pattern: RegExp }[];
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor(
    readonly name: string,
    readonly document: OpenApiDocument,
  ) {
    // The document mixes OpenAPI keywords (`example`, `x-stainless-const`, `discriminator`) with
    // schema keywords; `strict: false` lets Ajv ignore the former instead of refusing the document.
    this.ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
    addFormats(this.ajv);
    this.ajv.addFormat('unixtime', {
      type: 'number',
      validate: (n: number) => Number.isInteger(n) && n >= 0,
    });
    this.ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isInteger(n) });
    this.ajv.addFormat('binary', () => true);
    this.ajv.addSchema(document as object, name);
    this.routes = Object.keys(document.paths).map((template) => ({
      template,
      pattern: new RegExp(
        `^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}$`,
      ),
    }));
  }

  static openai(file = OPENAI_SPEC_FILE): ApiSpec {
    const document = fromOpenApi30(
      JSON.parse(readFileSync(file, 'utf8')),
    ) as unknown as OpenApiDocument;
    return new ApiSpec('openai', audioAnswersAsAnyOf(document));
  }

  /** The operation for a request path, which may start with `/v1` or `/openai/v1`. */
  operation(method: string, requestPath: string): Operation | undefined {
    const bare = requestPath.replace(/^\/openai\/v1(?=\/)|^\/v1(?=\/)/, '');
    // OpenAI's document names paths without `/v1`; Tierline's names them with it.
    const candidates = [bare, `/v1${bare}`, requestPath];
    for (const candidate of candidates) {
      // A concrete path before a templated one that also matches it (OpenAPI's rule:
      // `/organization/invites/accept` before `/organization/invites/{invite_id}`).
      const placeholders = (template: string) => template.split('{').length;
      const route = this.routes
        .filter((r) => r.pattern.test(candidate))
        .sort((a, b) => placeholders(a.template) - placeholders(b.template))
        .find((r) => this.document.paths[r.template]?.[method.toLowerCase()]);
      const definition = route && this.document.paths[route.template]?.[method.toLowerCase()];
      if (route && definition) {
        return {
          template: route.template,
          method: method.toLowerCase(),
          definition,
          pointer: `/paths/${escapePointer(route.template)}/${method.toLowerCase()}`,
        };
      }
    }
    return undefined;
  }

  private validator(pointer: string): ValidateFunction {
    let validate = this.compiled.get(pointer);
    if (!validate) {
      validate = this.ajv.compile({ $ref: `${this.name}#${pointer}` });
      this.compiled.set(pointer, validate);
    }
    return validate;
  }

  validate(pointer: string, value: unknown): string[] {
    const validate = this.validator(pointer);
    return validate(value) ? [] : describe(validate.errors ?? []);
  }

  schemaPointer(name: string): string {
    return `/components/schemas/${escapePointer(name)}`;
  }

  /**
   * Where the document gives the schema of a response: the status's own entry, else `default`; for
   * an error status the document does not list, the error schema (every error of every route has
   * one shape).
   */
  responsePointer(operation: Operation, status: number, mediaType: string): string | undefined {
    const responses = (operation.definition.responses ?? {}) as JsonObject;
    const key =
      String(status) in responses ? String(status) : 'default' in responses ? 'default' : undefined;
    if (key === undefined) return undefined;
    let pointer = `${operation.pointer}/responses/${key}`;
    let response = responses[key] as JsonObject;
    const ref = response.$ref;
    if (typeof ref === 'string') {
      pointer = ref.slice(1);
      response = this.resolve(pointer) as JsonObject;
    }
    const content = response.content as JsonObject | undefined;
    if (!content?.[mediaType]) return undefined;
    return `${pointer}/content/${escapePointer(mediaType)}/schema`;
  }

  /**
   * Whether the operation documents the status with no body at all (OpenAI's `DELETE
   * /responses/{id}`): a body the server sends there has no schema to match, and none to break.
   */
  documentsNoBody(operation: Operation, status: number): boolean {
    const responses = (operation.definition.responses ?? {}) as JsonObject;
    const response = responses[String(status)] as JsonObject | undefined;
    return response !== undefined && response.$ref === undefined && response.content === undefined;
  }

  requestPointer(operation: Operation, mediaType = 'application/json'): string | undefined {
    const body = operation.definition.requestBody as JsonObject | undefined;
    const content = body?.content as JsonObject | undefined;
    return content?.[mediaType]
      ? `${operation.pointer}/requestBody/content/${escapePointer(mediaType)}/schema`
      : undefined;
  }

  private resolve(pointer: string): unknown {
    return pointer
      .split('/')
      .slice(1)
      .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
      .reduce<unknown>(
        (node, key) => (node as Record<string, unknown> | undefined)?.[key],
        this.document,
      );
  }
}

function describe(errors: ErrorObject[]): string[] {
  return errors
    .slice(0, 8)
    .map((e) => `${e.instancePath || '(root)'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
}
