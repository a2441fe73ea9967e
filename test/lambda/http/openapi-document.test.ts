import { type ApiDependencies, createApiApp } from '../../../lambda/http/app';
import { tierlineOpenApiDocument } from '../../../lambda/http/openapi/document';
import { chatRequestSchema } from '../../../lambda/inference/chat-request';
import { loadConfig } from '../../../lib/config/load';
import { ApiSpec } from '../../support/api-spec';

/**
 * Tierline's `/openapi.json` cannot drift from the code: every route of the app is in it (and API
 * Gateway deploys exactly its operations, see test/infra), its request schemas are the ones the
 * routes validate with, and every schema in it compiles. The e2e spec check validates every answer
 * against it.
 */

const config = loadConfig({ env: 'dev' });
const document = tierlineOpenApiDocument(config) as {
  paths: Record<string, Record<string, unknown>>;
  components: { schemas: Record<string, unknown> };
};
/** `/v1/models/:id{.+}` and `/v1/models/{model}` both become `/v1/models/{}`. */
const normalize = (path: string) =>
  path.replace(/:[a-z_]+(\{[^}]*\})?/gi, '{}').replace(/\{[a-z_]+\}/gi, '{}');

describe("Tierline's OpenAPI document", () => {
  it('documents every route of the app, and nothing the app does not serve', () => {
    // With every optional part (files, batches, fine-tuning jobs, adapters, accounts and their
    // limits and alerts, members, sign-up, usage, speech, billing) present, so all routes are
    // registered.
    const app = createApiApp({
      config,
      speech: {},
      files: {},
      batches: {},
      fineTuningJobs: {},
      adapters: {},
      accounts: { rateLimits: {}, spendAlerts: {} },
      memberServices: {},
      signUp: {},
      organizationUsage: {},
      responses: {},
      billing: {},
    } as unknown as ApiDependencies);
    const served = new Set(
      app.routes
        .filter((r) => r.method !== 'ALL')
        .map((r) => `${r.method} ${normalize(r.path.replace(/^\/openai(?=\/v1\/)/, ''))}`),
    );
    const documented = new Set(
      Object.entries(document.paths).flatMap(([path, ops]) =>
        Object.keys(ops).map((method) => `${method.toUpperCase()} ${normalize(path)}`),
      ),
    );

    expect([...served].sort()).toEqual([...documented].sort());
  });

  it('describes the chat request with the schema the route validates with', () => {
    const schema = document.components.schemas.ChatCompletionRequest as {
      properties: Record<string, unknown>;
    };

    expect(Object.keys(schema.properties).sort()).toEqual(
      Object.keys(chatRequestSchema.shape).sort(),
    );
    expect(schema).toMatchObject({ additionalProperties: false, required: ['model', 'messages'] });
  });

  it('compiles every schema it holds', () => {
    const spec = new ApiSpec('tierline', document as never);

    for (const name of Object.keys(document.components.schemas)) {
      expect(() => spec.validate(spec.schemaPointer(name), {})).not.toThrow();
    }
  });

  it('is served by the app at /openapi.json without a key', async () => {
    const app = createApiApp({ config } as ApiDependencies);

    const response = await app.request('/openapi.json');

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual(JSON.parse(JSON.stringify(document)));
  });
});
