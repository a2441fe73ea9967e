import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import Ajv2020 from 'ajv/dist/2020';

/**
 * Validates responses against OpenAI's published schemas (`../shared/openai-openapi/`, OpenAPI 3.1).
 * A small helper of this branch until the contract work lands a shared one. The file still carries a few
 * OpenAPI 3.0 leftovers (`nullable`, boolean `exclusiveMinimum`): they are translated on load.
 */
const SPEC_FILE = path.join(__dirname, '..', '..', '..', 'shared', 'openai-openapi', 'openai-openapi-subset.json');

function translate(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(translate);
  if (typeof node !== 'object' || node === null) return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) out[key] = translate(value);
  if (out.nullable === true) {
    delete out.nullable;
    if (typeof out.type === 'string') out.type = [out.type, 'null'];
    else if (out.$ref || out.allOf || out.anyOf || out.oneOf) return { anyOf: [out, { type: 'null' }] };
  }
  if (typeof out.exclusiveMinimum === 'boolean') {
    if (out.exclusiveMinimum && typeof out.minimum === 'number') {
      out.exclusiveMinimum = out.minimum;
      delete out.minimum;
    } else delete out.exclusiveMinimum;
  }
  return out;
}

let ajv: Ajv2020 | undefined;

function validator(): Ajv2020 {
  if (ajv) return ajv;
  const spec = translate(JSON.parse(readFileSync(SPEC_FILE, 'utf8'))) as Record<string, unknown>;
  ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
  ajv.addSchema({ $id: 'openai', components: spec.components }, 'openai');
  return ajv;
}

/** The schema's errors for `value`, empty when it conforms to `components.schemas[schemaName]`. */
export function specErrors(schemaName: string, value: unknown): string[] {
  const validate = validator().getSchema(`openai#/components/schemas/${schemaName}`);
  if (!validate) throw new Error(`No schema ${schemaName} in the OpenAI spec subset`);
  if (validate(value)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || '(root)'} ${e.message ?? ''}`);
}

/** Jest-friendly: `expect(specErrors(...)).toEqual([])` reads well in failures; this throws with all of them. */
export function expectMatchesSpec(schemaName: string, value: unknown): void {
  const errors = specErrors(schemaName, value);
  if (errors.length > 0) {
    throw new Error(
      `Response does not match OpenAI's ${schemaName}:\n  ${errors.join('\n  ')}\n${JSON.stringify(value)}`,
    );
  }
}
