import {
  APIGatewayClient,
  CreateApiKeyCommand,
  CreateUsagePlanKeyCommand,
  GetUsagePlansCommand,
} from '@aws-sdk/client-api-gateway';
import { GetParameterCommand, ParameterNotFound, SSMClient } from '@aws-sdk/client-ssm';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { readOperatorSettings } from '../../cli/deployment';
import { runCli } from '../../cli/main';
import { Operator } from '../../cli/operator';
import { loadConfig } from '../../lib/config/load';
import type { OperatorSettings } from '../../lib/operator-settings';
import { type LocalDynamo, newCustomersTable, startDynalite } from '../support/dynalite';

const settings: OperatorSettings = {
  apiId: 'api123',
  stageName: 'dev',
  openAIBaseUrl: 'https://example.test/dev/v1',
  customersTableName: 'unused',
  meteringTableName: 'unused',
  usagePlanIds: { free: 'up-free', developer: 'up-dev', enterprise: 'up-ent' },
};

const COMMANDS = [
  [],
  ['customers'],
  ['customers', 'create'],
  ['customers', 'list'],
  ['customers', 'show'],
  ['customers', 'set-tier'],
  ['customers', 'rotate-key'],
  ['customers', 'revoke'],
  ['customers', 'spend-limit'],
  ['usage'],
  ['usage', 'replay-dead-letters'],
  ['plans'],
  ['plans', 'create-custom'],
  ['plans', 'list'],
  ['costs'],
  ['billing'],
];

describe('tierline CLI', () => {
  let dynamo: LocalDynamo;
  let operator: Operator;
  let gateway: AwsClientStub<APIGatewayClient>;
  const connect = jest.fn();

  beforeAll(async () => {
    dynamo = await startDynalite();
  });
  afterAll(() => dynamo.stop());

  beforeEach(async () => {
    const { repository } = await newCustomersTable(dynamo);
    const apiGateway = new APIGatewayClient({ region: 'eu-west-1' });
    gateway = mockClient(apiGateway);
    gateway.on(CreateApiKeyCommand).callsFake((input) => ({ id: 'gwkey-1', value: input.value }));
    gateway.on(CreateUsagePlanKeyCommand).resolves({});
    gateway
      .on(GetUsagePlansCommand)
      .resolves({ items: [{ id: 'up-free', name: 'tierline-dev-free' }] });
    operator = new Operator({
      customers: repository,
      apiGateway,
      settings,
      config: loadConfig({ env: 'dev' }),
    });
    connect.mockReset().mockResolvedValue(operator);
  });
  afterEach(() => gateway.restore());

  async function cli(...argv: string[]) {
    let out = '';
    let err = '';
    const code = await runCli(argv, { out: (t) => (out += t), err: (t) => (err += t), connect });
    return { code, out, err };
  }

  it.each(COMMANDS.map((command) => [command.join(' ') || '(no command)', command] as const))(
    'prints help for %s and exits 0 without connecting',
    async (_label, command) => {
      const result = await cli(...command, '--help');

      expect(result.code).toBe(0);
      expect(result.out).toMatch(/^Usage: tierline/);
      expect(connect).not.toHaveBeenCalled();
    },
  );

  it('creates a customer and prints the key once, as JSON with --json', async () => {
    const result = await cli(
      '--json',
      'customers',
      'create',
      '--name',
      'Acme',
      '--email',
      'a@acme.test',
      '--tier',
      'free',
    );

    expect(result.code).toBe(0);
    const body = JSON.parse(result.out);
    expect(body).toMatchObject({
      created: true,
      customer: { name: 'Acme', tier: 'free', status: 'active' },
    });
    expect(body.api_key).toMatch(/^tl_/);
    expect(body.customer).not.toHaveProperty('keyHash');
    expect(connect).toHaveBeenCalledWith({ env: 'dev', region: undefined });
  });

  it('says so, without a key, when the customer exists', async () => {
    await cli('customers', 'create', '--name', 'Acme', '--email', 'a@acme.test', '--tier', 'free');

    const again = await cli(
      'customers',
      'create',
      '--name',
      'Acme',
      '--email',
      'a@acme.test',
      '--tier',
      'free',
    );

    expect(again.code).toBe(0);
    expect(again.out).toContain('already exists; nothing changed');
    expect(again.out).not.toMatch(/tl_[0-9A-Za-z]{49}/);
  });

  it('passes --env and --region to the connection', async () => {
    await cli('--env', 'prod', '--region', 'eu-west-1', 'customers', 'list');

    expect(connect).toHaveBeenCalledWith({ env: 'prod', region: 'eu-west-1' });
  });

  it('lists customers and shows one as JSON', async () => {
    const created = JSON.parse(
      (
        await cli(
          '--json',
          'customers',
          'create',
          '--name',
          'Acme',
          '--email',
          'a@acme.test',
          '--tier',
          'developer',
        )
      ).out,
    );
    const id = created.customer.customerId;

    const list = JSON.parse((await cli('--json', 'customers', 'list')).out);
    const show = JSON.parse((await cli('--json', 'customers', 'show', id)).out);

    expect(list).toEqual({
      customers: [expect.objectContaining({ customerId: id })],
      cursor: null,
    });
    expect(show).toMatchObject({
      customerId: id,
      tier: 'developer',
      keyHint: expect.stringMatching(/^tl_/),
    });
  });

  it('rejects an unknown tier and a malformed --model with exit code 2 and a usage hint', async () => {
    const tier = await cli(
      'customers',
      'create',
      '--name',
      'A',
      '--email',
      'a@b.test',
      '--tier',
      'gold',
    );
    const model = await cli(
      'plans',
      'create-custom',
      'cus_1',
      '--rate',
      '1',
      '--burst',
      '1',
      '--model',
      'x:rpm=1',
    );

    expect(tier.code).toBe(2);
    expect(tier.err).toContain('Allowed choices are free, developer, enterprise');
    expect(model.code).toBe(2);
    expect(model.err).toContain('rpd is missing');
    expect(connect).not.toHaveBeenCalled();
  });

  it('prints operator errors without a stack trace, exit code 3 for an unknown customer', async () => {
    const result = await cli('customers', 'revoke', 'cus_missing');

    expect(result.code).toBe(3);
    expect(result.err).toBe('No customer with id cus_missing.\n');
  });

  it('answers --json errors with a JSON object and one exit code per kind of failure', async () => {
    const unknown = await cli('--json', 'customers', 'show', 'cus_missing');
    const badTier = await cli(
      '--json',
      'customers',
      'create',
      '--name',
      'A',
      '--email',
      'a@b.test',
      '--tier',
      'gold',
    );
    const badEmail = await cli(
      '--json',
      'customers',
      'create',
      '--name',
      'A',
      '--email',
      'nope',
      '--tier',
      'free',
    );
    await cli('customers', 'create', '--name', 'R', '--email', 'r@b.test', '--tier', 'free');
    const id = JSON.parse((await cli('--json', 'customers', 'list')).out).customers[0].customerId;
    await cli('customers', 'revoke', id);
    const revoked = await cli('--json', 'customers', 'rotate-key', id);

    expect([unknown.code, badTier.code, badEmail.code, revoked.code]).toEqual([3, 2, 2, 4]);
    expect(JSON.parse(unknown.err)).toEqual({
      error: { message: 'No customer with id cus_missing.', code: 'not_found', exit_code: 3 },
    });
    expect(JSON.parse(badTier.err).error).toMatchObject({ code: 'invalid_input', exit_code: 2 });
    expect(JSON.parse(badTier.err).error.message).toContain(
      'Allowed choices are free, developer, enterprise',
    );
    expect(JSON.parse(badEmail.err).error).toMatchObject({ code: 'invalid_input' });
    expect(JSON.parse(revoked.err).error).toMatchObject({ code: 'wrong_state', exit_code: 4 });
  });

  it('lists plans', async () => {
    const result = await cli('plans', 'list');

    expect(result.code).toBe(0);
    expect(result.out).toContain('up-free  free');
  });
});

describe('finding a deployment', () => {
  it('reads the operator parameter of the environment', async () => {
    const ssm = new SSMClient({ region: 'eu-west-1' });
    const mock = mockClient(ssm);
    mock.on(GetParameterCommand).resolves({ Parameter: { Value: JSON.stringify(settings) } });

    await expect(readOperatorSettings(ssm, 'prod')).resolves.toEqual(settings);
    expect(mock.commandCalls(GetParameterCommand)[0]?.args[0].input).toEqual({
      Name: '/tierline/prod/operator',
    });
  });

  it('says how to deploy when the environment is not there', async () => {
    const ssm = new SSMClient({ region: 'eu-west-1' });
    mockClient(ssm)
      .on(GetParameterCommand)
      .rejects(new ParameterNotFound({ message: 'not found', $metadata: {} }));

    await expect(readOperatorSettings(ssm, 'prod')).rejects.toThrow(
      /No Tierline deployment "prod" found.*cdk deploy/,
    );
  });
});
