import * as z from 'zod/mini';
import { responseShapes } from '../../openai/shapes';

/**
 * JSON Schemas (2020-12) of what Tierline answers, for its `/openapi.json`, generated from the zod
 * shapes of `openai/shapes/` (the same schemas the server's response types come from). The
 * end-to-end tests validate every response they get against these (and against OpenAI's published
 * schemas for the OpenAI routes), so a response that leaves its shape fails a test.
 */

type Schema = Record<string, unknown>;

const COMPONENTS = '#/components/schemas/';

/** `{ Name: JSON Schema }` for every shape of the registry, shapes inside shapes as `$ref`s. */
export function responseJsonSchemas(
  shapes: Record<string, z.ZodMiniType> = responseShapes,
): Record<string, Schema> {
  const registry = z.registry<{ id: string }>();
  for (const [id, shape] of Object.entries(shapes)) registry.add(shape, { id });
  const { schemas } = z.toJSONSchema(registry, {
    target: 'draft-2020-12',
    // The input side: zod closes objects on the output side (`additionalProperties: false`), while
    // OpenAI's objects are open (clients ignore fields they do not know, backends add theirs).
    io: 'input',
    uri: (id) => `${COMPONENTS}${id}`,
    override: ({ jsonSchema }) => {
      // z.int() adds JavaScript's safe-integer bound, which says nothing to a reader of the API.
      if (jsonSchema.maximum === Number.MAX_SAFE_INTEGER) delete jsonSchema.maximum;
    },
  });
  return Object.fromEntries(
    Object.entries(schemas).map(([id, { $schema: _dialect, $id: _id, ...schema }]) => [
      id,
      schema as Schema,
    ]),
  );
}
