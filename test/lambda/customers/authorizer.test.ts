import {
  createAuthorizerHandler,
  stageWildcardArn,
} from '../../../lambda/customers/api-gateway-authorizer';
import { issueApiKey } from '../../../lambda/customers/api-keys';
import type { CustomersRepository } from '../../../lambda/customers/customers-repository';
import { defaultProjectId } from '../../../lambda/customers/key-permissions';
import { type LocalDynamo, newCustomersTable, startDynalite } from '../../support/dynalite';
import { authorizerEvent, METHOD_ARN } from '../../support/events';

/** The same key with its last checksum character changed. */
function withWrongChecksum(key: string): string {
  return key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A');
}

const silentLogger = { error: jest.fn() } as never;

describe('key authorizer (against dynalite)', () => {
  let dynamo: LocalDynamo;
  let repository: CustomersRepository;
  let handler: ReturnType<typeof createAuthorizerHandler>;

  beforeAll(async () => {
    dynamo = await startDynalite();
    ({ repository } = await newCustomersTable(dynamo));
    handler = createAuthorizerHandler((hash) => repository.getKey(hash), silentLogger);
  });
  afterAll(() => dynamo.stop());

  async function storeKey(status: 'active' | 'revoked', extra: Record<string, unknown> = {}) {
    const issued = issueApiKey();
    await repository.putKey({
      keyHash: issued.hash,
      customerId: 'cus_1',
      tier: 'developer',
      usageIdentifierKey: 'apigw-key-value-1',
      status,
      createdAt: '2026-11-28T00:00:00.000Z',
      ...extra,
    });
    return issued.key;
  }

  it('allows a valid key on every route of the stage, with the customer context and usage identifier', async () => {
    const key = await storeKey('active');

    const result = await handler(authorizerEvent({ Authorization: `Bearer ${key}` }));

    expect(result).toEqual({
      principalId: 'cus_1',
      usageIdentifierKey: 'apigw-key-value-1',
      policyDocument: {
        Version: '2012-10-17',
        Statement: [
          {
            Action: 'execute-api:Invoke',
            Effect: 'Allow',
            Resource: 'arn:aws:execute-api:eu-west-1:123456789012:abc123/dev/*',
          },
        ],
      },
      // A key stored before kinds and projects: a project key of the default project, every permission.
      context: {
        kind: 'project_key',
        customerId: 'cus_1',
        projectId: defaultProjectId('cus_1'),
        keyId: 'key_primary',
        permissions: 'all',
        tier: 'developer',
      },
    });
  });

  it('reads the header case-insensitively and passes custom limits as a JSON string', async () => {
    const limits = { 'qwen3-8b': { rpm: 5, rpd: 10, tpm: 100, tpd: 1000 } };
    const key = await storeKey('active', { tier: 'enterprise', customModelLimits: limits });

    const result = await handler(authorizerEvent({ authorization: `Bearer ${key}` }));

    expect(result.context).toEqual({
      kind: 'project_key',
      customerId: 'cus_1',
      projectId: defaultProjectId('cus_1'),
      keyId: 'key_primary',
      permissions: 'all',
      tier: 'enterprise',
      customModelLimits: JSON.stringify(limits),
    });
  });

  it.each([
    ['missing header', {}],
    ['not a Bearer token', { Authorization: 'Basic dXNlcjpwYXNz' }],
    ['malformed key', { Authorization: 'Bearer tl_short' }],
    ['bad checksum', { Authorization: `Bearer ${withWrongChecksum(issueApiKey().key)}` }],
    ['another vendor key', { Authorization: 'Bearer sk-proj-abcdef' }],
  ])('rejects a %s with 401 before any DynamoDB call', async (_case, headers) => {
    const before = dynamo.calls();

    await expect(handler(authorizerEvent(headers))).rejects.toThrow(/^Unauthorized$/);

    expect(dynamo.calls()).toBe(before);
  });

  it('rejects an unknown well-formed key with 401 after one lookup', async () => {
    const before = dynamo.calls();

    await expect(
      handler(authorizerEvent({ Authorization: `Bearer ${issueApiKey().key}` })),
    ).rejects.toThrow(/^Unauthorized$/);

    expect(dynamo.calls()).toBe(before + 1);
  });

  it('rejects a revoked key with 401', async () => {
    const key = await storeKey('revoked');

    await expect(handler(authorizerEvent({ Authorization: `Bearer ${key}` }))).rejects.toThrow(
      /^Unauthorized$/,
    );
  });

  it('answers a failed lookup with a non-401 error (API Gateway: 500 AUTHORIZER_FAILURE), and logs it', async () => {
    const logger = { error: jest.fn() };
    const failing = createAuthorizerHandler(
      () => Promise.reject(new Error('throttled')),
      logger as never,
    );

    await expect(
      failing(authorizerEvent({ Authorization: `Bearer ${issueApiKey().key}` })),
    ).rejects.toThrow('Authorizer failure');
    expect(logger.error).toHaveBeenCalledWith('key lookup failed', expect.anything());
  });

  it('builds the stage-wide resource from any method ARN', () => {
    expect(stageWildcardArn(METHOD_ARN)).toBe(
      'arn:aws:execute-api:eu-west-1:123456789012:abc123/dev/*',
    );
    expect(
      stageWildcardArn('arn:aws:execute-api:us-east-1:1:api/prod/POST/openai/v1/chat/completions'),
    ).toBe('arn:aws:execute-api:us-east-1:1:api/prod/*');
  });
});
