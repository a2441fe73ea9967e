import type { Context as LambdaContext } from 'aws-lambda';
import { handle, type LambdaEvent } from 'hono/aws-lambda';
import type { CustomersRepository } from '../../../lambda/customers/customers-repository';
import {
  principalFromAuthorizer,
  requestIdFromEvent,
} from '../../../lambda/customers/lambda-principal';
import { createApiApp } from '../../../lambda/http/app';
import { TestModelBackend } from '../../../lambda/inference/backends/test-model-backend';
import { loadConfig } from '../../../lib/config/load';
import { TIER_NAMES } from '../../../lib/config/schema';
import { type LocalDynamo, newCustomersTable, startDynalite } from '../../support/dynalite';
import { proxyEvent } from '../../support/events';
import { meteringOn } from '../../support/metering';

const config = loadConfig({ env: 'dev' });
const lambdaContext = {} as LambdaContext;

describe('API function (Lambda proxy events, customers in dynalite)', () => {
  let dynamo: LocalDynamo;
  let repository: CustomersRepository;
  let handler: ReturnType<typeof handle>;
  let metering: Awaited<ReturnType<typeof meteringOn>>;

  beforeAll(async () => {
    dynamo = await startDynalite();
    metering = await meteringOn(dynamo, config);
    ({ repository } = await newCustomersTable(dynamo));
    await repository.putCustomer({
      customerId: 'cus_ent',
      name: 'Acme',
      email: 'ops@acme.test',
      tier: 'enterprise',
      status: 'active',
      createdAt: '2026-11-01T00:00:00.000Z',
      updatedAt: '2026-11-01T00:00:00.000Z',
      customPlan: {
        usagePlanId: 'up-custom',
        edge: { rateLimit: 900, burstLimit: 1800 },
        models: { 'qwen3-32b': { rpm: 7, rpd: 70, tpm: 700, tpd: 7000 } },
      },
    });
    const app = createApiApp({
      config,
      principalOf: principalFromAuthorizer,
      customers: repository,
      backend: new TestModelBackend(),
      ...metering,
      requestIdOf: requestIdFromEvent,
    });
    handler = handle(app);
  });
  afterAll(() => dynamo.stop());

  async function call(event: ReturnType<typeof proxyEvent>) {
    // @types/aws-lambda and hono type the same REST proxy event slightly differently (null vs
    // undefined).
    const response = await handler(event as unknown as LambdaEvent, lambdaContext);
    // REST (v1) events with multiValueHeaders get multiValueHeaders back.
    const header = (name: string) =>
      response.headers?.[name] ?? response.multiValueHeaders?.[name]?.[0];
    return { ...response, header, json: JSON.parse(response.body) };
  }

  it.each(['/v1/plans', '/openai/v1/plans'])(
    'GET %s publishes every tier from the config, without a key',
    async (path) => {
      const response = await call(proxyEvent({ path }));

      expect(response.statusCode).toBe(200);
      expect(response.json.object).toBe('list');
      expect(response.json.data.map((plan: { id: string }) => plan.id)).toEqual([...TIER_NAMES]);
      const free = response.json.data[0];
      const freeLlama = config.tiers.free.models['qwen3-14b'];
      expect(free.models).toContainEqual(
        expect.objectContaining({
          id: 'qwen3-14b',
          limits: {
            requests_per_minute: freeLlama?.rpm,
            requests_per_day: freeLlama?.rpd,
            tokens_per_minute: freeLlama?.tpm,
            tokens_per_day: freeLlama?.tpd,
          },
        }),
      );
      // Free is pooled: a new account meets the edge on a shared key, without a request quota.
      expect(free.edge).toEqual({
        requests_per_second: config.tiers.free.edgePool?.rateLimit,
        burst: config.tiers.free.edgePool?.burstLimit,
        quota: null,
        shared: true,
      });
      expect(response.json.data[1].features.batch).toMatchObject({
        available: true,
        discount_percent: 50,
      });
      expect(response.json.data[0].features.files).toEqual({
        storage_quota_bytes: 1_000_000_000,
        max_file_bytes: 200_000_000,
        max_parts_per_upload: 1_000,
      });
    },
  );

  it('GET /v1/me answers the caller, its tier and its custom plan limits', async () => {
    const response = await call(
      proxyEvent({
        path: '/openai/v1/me',
        authorizer: { customerId: 'cus_ent', tier: 'enterprise' },
      }),
    );

    expect(response.statusCode).toBe(200);
    expect(response.header('x-request-id')).toBe('req-123');
    expect(response.json).toMatchObject({
      object: 'customer',
      id: 'cus_ent',
      name: 'Acme',
      tier: 'enterprise',
      custom_plan: true,
      created_at: Date.parse('2026-11-01T00:00:00.000Z') / 1000,
    });
    expect(response.json.plan.edge).toEqual({
      requests_per_second: 900,
      burst: 1800,
      quota: null,
      shared: false,
    });
    const qwen = response.json.plan.models.find((m: { id: string }) => m.id === 'qwen3-32b');
    expect(qwen.limits).toEqual({
      requests_per_minute: 7,
      requests_per_day: 70,
      tokens_per_minute: 700,
      tokens_per_day: 7000,
    });
  });

  it('answers 401 invalid_api_key in the OpenAI shape when no authorizer context is present', async () => {
    const response = await call(proxyEvent({ path: '/v1/me' }));

    expect(response.statusCode).toBe(401);
    expect(response.json).toEqual({
      error: {
        message: 'Invalid API Key',
        type: 'invalid_request_error',
        param: null,
        code: 'invalid_api_key',
      },
    });
  });

  it('answers 404 for a customer removed after its key was cached', async () => {
    const response = await call(
      proxyEvent({ path: '/v1/me', authorizer: { customerId: 'cus_gone', tier: 'free' } }),
    );

    expect(response.statusCode).toBe(404);
    expect(response.json.error.code).toBe('customer_not_found');
  });

  it('answers an unknown route with 404 unknown_url naming the method and path', async () => {
    const response = await call(
      proxyEvent({
        method: 'POST',
        path: '/v1/nope',
        authorizer: { customerId: 'cus_ent', tier: 'enterprise' },
      }),
    );

    expect(response.statusCode).toBe(404);
    expect(response.json).toEqual({
      error: {
        message: 'Invalid URL (POST /v1/nope)',
        type: 'invalid_request_error',
        param: null,
        code: 'unknown_url',
      },
    });
  });

  it('hides internal failures behind a 500 that quotes the request id', async () => {
    const logError = jest.fn();
    const failing = handle(
      createApiApp({
        config,
        principalOf: principalFromAuthorizer,
        customers: {
          getCustomer: () => Promise.reject(new Error('secret internals')),
          updateCustomer: () => Promise.reject(new Error('unused')),
          updateKey: () => Promise.reject(new Error('unused')),
          updateCustomerKeys: () => Promise.reject(new Error('unused')),
          getKey: () => Promise.reject(new Error('unused')),
          putNamedKey: () => Promise.reject(new Error('unused')),
          listNamedKeys: () => Promise.reject(new Error('unused')),
          initNamedKeySlots: () => Promise.reject(new Error('unused')),
          reserveNamedKeySlot: () => Promise.reject(new Error('unused')),
          releaseNamedKeySlots: () => Promise.reject(new Error('unused')),
          registerProjectKey: () => Promise.reject(new Error('unused')),
          forgetProjectKey: () => Promise.reject(new Error('unused')),
          revokeOrBar: () => Promise.reject(new Error('unused')),
        },
        backend: new TestModelBackend(),
        ...metering,
        requestIdOf: requestIdFromEvent,
        logError,
      }),
    );

    const response = await failing(
      proxyEvent({
        path: '/v1/me',
        requestId: 'req-500',
        authorizer: { customerId: 'c', tier: 'free' },
      }) as unknown as LambdaEvent,
      lambdaContext,
    );

    expect(response.statusCode).toBe(500);
    const body = JSON.parse(response.body);
    expect(body.error.type).toBe('server_error');
    expect(body.error.message).toContain('req-500');
    expect(body.error.message).not.toContain('secret');
    expect(logError).toHaveBeenCalledWith(
      'unhandled error',
      expect.objectContaining({ requestId: 'req-500' }),
    );
  });
});
