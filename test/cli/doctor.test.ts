import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { APIGatewayClient, GetAccountCommand } from '@aws-sdk/client-api-gateway';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import {
  BatchGetImageCommand,
  DescribeImagesCommand,
  ECRClient,
  ImageNotFoundException,
  RepositoryNotFoundException,
} from '@aws-sdk/client-ecr';
import { GetRoleCommand, IAMClient, NoSuchEntityException } from '@aws-sdk/client-iam';
import { GetAccountSettingsCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import {
  DescribeSecretCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import {
  ListAWSDefaultServiceQuotasCommand,
  ListServiceQuotasCommand,
  ServiceQuotasClient,
} from '@aws-sdk/client-service-quotas';
import { GetParameterCommand, ParameterNotFound, SSMClient } from '@aws-sdk/client-ssm';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { modelWeightsChecks } from '../../cli/doctor/artifact-checks';
import { defaultDoctorClients, sdkDefaultRegion } from '../../cli/doctor/commands';
import type { CheckContext, DoctorReport } from '../../cli/doctor/doctor';
import { runCli } from '../../cli/main';
import { loadConfig } from '../../lib/config/load';

/**
 * `tierline doctor` against mocked AWS services (aws-sdk-client-mock) and a stand-in for the
 * Hugging Face Hub: each test states the account's answers and asserts the verdicts and the exact
 * requests sent.
 */

const sts = mockClient(STSClient);
const cloudFormation = mockClient(CloudFormationClient);
const ssm = mockClient(SSMClient);
const serviceQuotas = mockClient(ServiceQuotasClient);
const s3 = mockClient(S3Client);
const ecr = mockClient(ECRClient);
const apiGateway = mockClient(APIGatewayClient);
const iam = mockClient(IAMClient);
const secrets = mockClient(SecretsManagerClient);
const lambda = mockClient(LambdaClient);
const ALL = [sts, cloudFormation, ssm, serviceQuotas, s3, ecr, apiGateway, iam, secrets, lambda];

const ACCOUNT = '123456789012';
const LMI = {
  registryId: '763104351884',
  repositoryName: 'djl-inference',
  imageIds: [{ imageTag: '0.36.0-lmi18.0.0-cu128' }],
};
const TRAINING = {
  registryId: '763104351884',
  repositoryName: 'huggingface-pytorch-training',
  imageIds: [{ imageTag: '2.9.0-transformers5.3.0-gpu-py312-cu130-ubuntu22.04' }],
};
const LOGGING_ROLE = `arn:aws:iam::${ACCOUNT}:role/Tierline-ApiGatewayAccount-CloudWatchRole1A2B3C4D-EXAMPLE`;

const named = (name: string, message: string) => Object.assign(new Error(message), { name });
const quota = (QuotaName: string, Value: number, QuotaCode = 'L-TEST') => ({
  QuotaName,
  Value,
  QuotaCode,
});

/** The Hub's answers by model id; anything else is a 404, as for an unknown repository. */
function hub(models: Record<string, { gated: false | 'auto' | 'manual' }>) {
  const calls: string[] = [];
  const fetch = (async (url: string | URL | Request) => {
    calls.push(String(url));
    const id = String(url).replace('https://huggingface.co/api/models/', '');
    const model = models[id];
    return model
      ? new Response(JSON.stringify({ id, private: false, ...model }), { status: 200 })
      : new Response(JSON.stringify({ error: 'Repository not found' }), { status: 401 });
  }) as typeof globalThis.fetch;
  return { fetch, calls };
}

/** An account where every check passes for the dev config with its default (Hugging Face) weights. */
function readyAccount() {
  sts
    .on(GetCallerIdentityCommand)
    .resolves({ Account: ACCOUNT, Arn: `arn:aws:iam::${ACCOUNT}:user/ops` });
  cloudFormation.on(DescribeStacksCommand).resolves({
    Stacks: [{ StackName: 'CDKToolkit', StackStatus: 'UPDATE_COMPLETE', CreationTime: new Date() }],
  });
  ssm
    .on(GetParameterCommand)
    .resolves({ Parameter: { Name: '/cdk-bootstrap/hnb659fds/version', Value: '33' } });
  // Applied values in two pages; the training quota is still at its default, so only the defaults
  // list has it.
  serviceQuotas
    .on(ListServiceQuotasCommand)
    .resolvesOnce({
      Quotas: [quota('ml.g6e.xlarge for endpoint usage', 2, 'L-G5')],
      NextToken: 'page-2',
    })
    .resolvesOnce({ Quotas: [quota('ml.g6e.12xlarge for endpoint usage', 4, 'L-G6E12')] });
  serviceQuotas
    .on(ListAWSDefaultServiceQuotasCommand)
    .resolves({ Quotas: [quota('ml.g6e.2xlarge for spot training job usage', 1, 'L-G6E2T')] });
  ecr.on(DescribeImagesCommand).resolves({ imageDetails: [{ imageTags: ['x'] }] });
  apiGateway.on(GetAccountCommand).resolves({ cloudwatchRoleArn: LOGGING_ROLE });
  iam.on(GetRoleCommand).resolves({
    Role: {
      RoleName: 'apigateway-cloudwatch-logs',
      Arn: LOGGING_ROLE,
      Path: '/',
      RoleId: 'R',
      CreateDate: new Date(),
    },
  });
  lambda.on(GetAccountSettingsCommand).resolves({
    AccountLimit: { ConcurrentExecutions: 1000, UnreservedConcurrentExecutions: 1000 },
  });
}

async function doctor(args: string[], fetch = hub({}).fetch) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(['doctor', ...args], {
    out: (text) => out.push(text),
    err: (text) => err.push(text),
    connect: () => Promise.reject(new Error('doctor needs no deployment')),
    doctorClients: (region) => ({ ...defaultDoctorClients(region), fetch }),
    defaultRegion: async () => undefined,
  });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const verdicts = (report: DoctorReport) =>
  Object.fromEntries(
    report.checks.map((c) => [c.subject ? `${c.check} ${c.subject}` : c.check, c.status]),
  );

beforeEach(() => {
  for (const mock of ALL) mock.reset();
});

describe('tierline doctor', () => {
  it('passes a ready account, asking each service exactly what the config needs', async () => {
    readyAccount();
    const hf = hub({
      'Qwen/Qwen3-8B': { gated: false },
      'Qwen/Qwen3-14B': { gated: false },
      'Qwen/Qwen3-32B': { gated: false },
    });

    const { code, out } = await doctor(['--region', 'eu-west-1', '--json'], hf.fetch);

    const report = JSON.parse(out) as DoctorReport;
    expect(code).toBe(0);
    expect(report).toMatchObject({ env: 'dev', region: 'eu-west-1', account: ACCOUNT });
    expect(verdicts(report)).toEqual({
      region: 'ok',
      credentials: 'ok',
      'cdk-bootstrap': 'ok',
      'endpoint-quota ml.g6e.xlarge': 'ok',
      'endpoint-quota ml.g6e.12xlarge': 'ok',
      'training-quota ml.g6e.2xlarge': 'ok',
      'model-weights qwen3-8b': 'ok',
      'model-weights qwen3-14b': 'ok',
      'model-weights qwen3-32b': 'ok',
      'container-image 763104351884.dkr.ecr.eu-west-1.amazonaws.com/djl-inference:0.36.0-lmi18.0.0-cu128':
        'ok',
      'container-image 763104351884.dkr.ecr.eu-west-1.amazonaws.com/huggingface-pytorch-training:2.9.0-transformers5.3.0-gpu-py312-cu130-ubuntu22.04':
        'ok',
      'api-gateway-logging-role': 'ok',
      'lambda-concurrency': 'ok',
    });
    expect(cloudFormation.commandCalls(DescribeStacksCommand).map((c) => c.args[0].input)).toEqual([
      { StackName: 'CDKToolkit' },
    ]);
    expect(ssm.commandCalls(GetParameterCommand).map((c) => c.args[0].input)).toEqual([
      { Name: '/cdk-bootstrap/hnb659fds/version' },
    ]);
    expect(
      serviceQuotas.commandCalls(ListServiceQuotasCommand).map((c) => c.args[0].input),
    ).toEqual([
      { ServiceCode: 'sagemaker', MaxResults: 100 },
      { ServiceCode: 'sagemaker', MaxResults: 100, NextToken: 'page-2' },
    ]);
    expect(
      serviceQuotas.commandCalls(ListAWSDefaultServiceQuotasCommand).map((c) => c.args[0].input),
    ).toEqual([{ ServiceCode: 'sagemaker', MaxResults: 100 }]);
    // One call per distinct image, in the deploy region's URI.
    expect(ecr.commandCalls(DescribeImagesCommand).map((c) => c.args[0].input)).toEqual([
      LMI,
      TRAINING,
    ]);
    expect(await ecr.call(0).thisValue.config.region()).toBe('eu-west-1');
    expect(hf.calls.sort()).toEqual([
      'https://huggingface.co/api/models/Qwen/Qwen3-14B',
      'https://huggingface.co/api/models/Qwen/Qwen3-32B',
      'https://huggingface.co/api/models/Qwen/Qwen3-8B',
    ]);
    expect(apiGateway.commandCalls(GetAccountCommand)).toHaveLength(1);
    expect(iam.commandCalls(GetRoleCommand).map((c) => c.args[0].input)).toEqual([
      { RoleName: 'Tierline-ApiGatewayAccount-CloudWatchRole1A2B3C4D-EXAMPLE' },
    ]);
    expect(s3.calls()).toHaveLength(0); // no s3:// weights in this config
  });

  it('fails a new account with what to do for each problem, and exits 1', async () => {
    sts
      .on(GetCallerIdentityCommand)
      .resolves({ Account: ACCOUNT, Arn: `arn:aws:iam::${ACCOUNT}:user/ops` });
    cloudFormation
      .on(DescribeStacksCommand)
      .rejects(named('ValidationError', 'Stack with id CDKToolkit does not exist'));
    serviceQuotas.on(ListServiceQuotasCommand).resolves({ Quotas: [] });
    serviceQuotas.on(ListAWSDefaultServiceQuotasCommand).resolves({
      Quotas: [
        quota('ml.g6e.xlarge for endpoint usage', 2, 'L-G6EX'),
        quota('ml.g6e.12xlarge for endpoint usage', 0, 'L-G6E12'),
        quota('ml.g6e.2xlarge for spot training job usage', 0, 'L-G6E2T'),
      ],
    });
    ecr
      .on(DescribeImagesCommand, { repositoryName: 'djl-inference' })
      .rejects(new ImageNotFoundException({ message: 'not found', $metadata: {} }));
    ecr
      .on(DescribeImagesCommand, { repositoryName: 'huggingface-pytorch-training' })
      .rejects(named('AccessDeniedException', 'no'));
    ecr.on(BatchGetImageCommand).rejects(named('AccessDeniedException', 'no'));
    apiGateway.on(GetAccountCommand).resolves({});
    const hf = hub({ 'Qwen/Qwen3-8B': { gated: 'manual' }, 'Qwen/Qwen3-32B': { gated: false } });

    // prod: the 8B and 14B endpoints start one instance each of a type whose quota is 2, and may
    // scale to 4.
    const { code, out, err } = await doctor(['--env', 'prod', '--region', 'us-east-1'], hf.fetch);

    expect(code).toBe(1);
    expect(err).toContain('doctor: 6 check(s) failed');
    expect(out).toContain(
      'FAIL  cdk-bootstrap: The account is not bootstrapped in us-east-1 (no CDKToolkit stack).',
    );
    expect(out).toContain(`fix: npx cdk bootstrap aws://${ACCOUNT}/us-east-1`);
    expect(out).toContain(
      'WARN  endpoint-quota ml.g6e.xlarge: Quota 2: deploys (2 at start) but autoscaling stops at 2 of 4',
    );
    expect(out).toContain(
      'fix: Request 4 in Service Quotas (SageMaker, "ml.g6e.xlarge for endpoint usage"): aws service-quotas ' +
        'request-service-quota-increase --service-code sagemaker --quota-code L-G6EX --desired-value 4 --region us-east-1',
    );
    expect(out).toContain(
      'FAIL  endpoint-quota ml.g6e.12xlarge: Quota 0; the deploy starts 1 instance(s)',
    );
    expect(out).toContain('--quota-code L-G6E12 --desired-value 2');
    expect(out).toContain(
      'FAIL  training-quota ml.g6e.2xlarge: Quota "ml.g6e.2xlarge for spot training job usage" 0',
    );
    expect(out).toContain('FAIL  model-weights qwen3-8b: Qwen/Qwen3-8B is gated (manual approval)');
    expect(out).toContain('FAIL  model-weights qwen3-14b: Hugging Face has no public model');
    expect(out).toContain('OK    model-weights qwen3-32b');
    expect(out).toMatch(
      /FAIL {2}container-image \S+djl-inference:0.36.0-lmi18.0.0-cu128: No such image/,
    );
    // DescribeImages denied, then BatchGetImage (a pull) denied too: unknown, with the command to
    // check it by hand.
    expect(out).toMatch(/WARN {2}container-image \S+huggingface-pytorch-training\S+: Unknown/);
    expect(out).toContain(
      'docker manifest inspect 763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-training',
    );
    expect(ecr.commandCalls(BatchGetImageCommand).map((c) => c.args[0].input)).toEqual([
      { ...TRAINING, imageIds: [{ imageTag: TRAINING.imageIds[0]?.imageTag }] },
    ]);
    // No logging role yet: the app's own Tierline-ApiGatewayAccount stack makes one
    // (manageApiGatewayAccountRole).
    expect(out).toContain(
      'OK    api-gateway-logging-role: None yet: Tierline-ApiGatewayAccount creates it',
    );
    // The bootstrap version is not read when the bootstrap stack does not exist.
    expect(ssm.calls()).toHaveLength(0);
  });

  it('reads a pull when DescribeImages is denied: a missing tag fails, a present one passes', async () => {
    readyAccount();
    ecr.on(DescribeImagesCommand).rejects(named('AccessDeniedException', 'not allowed'));
    ecr
      .on(BatchGetImageCommand, { repositoryName: 'djl-inference' })
      .resolves({ images: [{ imageId: LMI.imageIds[0] }], failures: [] });
    ecr.on(BatchGetImageCommand, { repositoryName: 'huggingface-pytorch-training' }).resolves({
      images: [],
      failures: [
        {
          imageId: TRAINING.imageIds[0],
          failureCode: 'ImageNotFound',
          failureReason: 'Requested image not found',
        },
      ],
    });

    const { out } = await doctor(['--region', 'us-west-2', '--json']);

    const images = (JSON.parse(out) as DoctorReport).checks.filter(
      (c) => c.check === 'container-image',
    );
    expect(images.map((c) => [c.subject?.split('/')[1], c.status])).toEqual([
      ['djl-inference:0.36.0-lmi18.0.0-cu128', 'ok'],
      ['huggingface-pytorch-training:2.9.0-transformers5.3.0-gpu-py312-cu130-ubuntu22.04', 'fail'],
    ]);
  });

  it('knows the regions whose Deep Learning Containers live in another account, and asks ECR nothing there', async () => {
    readyAccount();

    const { out } = await doctor(['--region', 'af-south-1', '--json']);

    const images = (JSON.parse(out) as DoctorReport).checks.filter(
      (c) => c.check === 'container-image',
    );
    expect(images.map((c) => c.status)).toEqual(['fail', 'fail']);
    expect(images[0]?.message).toBe(
      'In af-south-1 the Deep Learning Containers are in account 626614931356, not 763104351884.',
    );
    expect(ecr.calls()).toHaveLength(0);
  });

  it('fails without a region and makes no AWS call', async () => {
    const { code, out } = await doctor(['--json']);

    expect(code).toBe(1);
    expect(verdicts(JSON.parse(out) as DoctorReport)).toEqual({ region: 'fail' });
    for (const mock of ALL) expect(mock.calls()).toHaveLength(0);
  });

  it('stops after the region when there are no credentials', async () => {
    sts
      .on(GetCallerIdentityCommand)
      .rejects(named('CredentialsProviderError', 'Could not load credentials'));

    const { code, out } = await doctor(['--region', 'us-east-1']);

    expect(code).toBe(1);
    expect(out).toContain('FAIL  credentials: No usable AWS credentials (CredentialsProviderError');
    expect(cloudFormation.calls()).toHaveLength(0);
  });

  it('fails an old bootstrap, a logging role a deleted stack took; warns of a role an app stack owns', async () => {
    readyAccount();
    ssm.on(GetParameterCommand).resolves({ Parameter: { Value: '5' } });
    iam.on(GetRoleCommand).rejects(new NoSuchEntityException({ message: 'gone', $metadata: {} }));

    const first = JSON.parse(
      (await doctor(['--region', 'us-east-1', '--json'])).out,
    ) as DoctorReport;

    expect(first.checks.find((c) => c.check === 'cdk-bootstrap')).toMatchObject({
      status: 'fail',
      message: 'Bootstrap version 5; aws-cdk-lib needs 6 or later.',
    });
    expect(first.checks.find((c) => c.check === 'api-gateway-logging-role')).toMatchObject({
      status: 'fail',
      message: `The account's API Gateway logging role ${LOGGING_ROLE} no longer exists (a deleted stack took it).`,
    });

    ssm.on(GetParameterCommand).rejects(new ParameterNotFound({ message: 'none', $metadata: {} }));
    const owned = `arn:aws:iam::${ACCOUNT}:role/Tierline-dev-Api-TierlineApiRestApiCloudWatchRoleABC-123`;
    apiGateway.on(GetAccountCommand).resolves({ cloudwatchRoleArn: owned });
    iam.on(GetRoleCommand).resolves({
      Role: { RoleName: 'x', Arn: owned, Path: '/', RoleId: 'R', CreateDate: new Date() },
    });

    const second = await doctor(['--region', 'us-east-1', '--strict']);

    expect(second.out).toContain(
      'FAIL  cdk-bootstrap: CDKToolkit exists but /cdk-bootstrap/hnb659fds/version does not',
    );
    expect(second.out).toContain(
      `WARN  api-gateway-logging-role: ${owned} belongs to stack Tierline-dev-Api: destroying that stack breaks`,
    );
    expect(second.code).toBe(1);
  });

  it('warns, never fails, when the quotas cannot be read, and exits 0 unless --strict', async () => {
    readyAccount();
    serviceQuotas.on(ListServiceQuotasCommand).rejects(named('AccessDeniedException', 'no'));
    const hf = hub({
      'Qwen/Qwen3-8B': { gated: false },
      'Qwen/Qwen3-14B': { gated: false },
      'Qwen/Qwen3-32B': { gated: false },
    });

    const relaxed = await doctor(['--region', 'us-east-1'], hf.fetch);
    const strict = await doctor(['--region', 'us-east-1', '--strict'], hf.fetch);

    expect(relaxed.out).toContain(
      'WARN  sagemaker-quotas: Could not read SageMaker quotas (AccessDeniedException: no).',
    );
    expect(relaxed.out).toContain(
      '"ml.g6e.xlarge for endpoint usage", "ml.g6e.12xlarge for endpoint usage"',
    );
    expect(relaxed.code).toBe(0);
    expect(strict.code).toBe(1);
    expect(strict.err).toContain('doctor: 0 check(s) failed, 1 warned');
  });

  it('checks s3:// weights for config.json and tensors, in the deploy region, from a --config-file', async () => {
    readyAccount();
    const file = path.join(tmpdir(), `doctor-config-${process.pid}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        models: {
          'qwen3-8b': { weights: 's3://weights-bucket/llama-8b' },
          'qwen3-14b': { weights: 's3://weights-bucket/llama-70b/' },
          'qwen3-32b': { weights: 's3://elsewhere-bucket/qwen' },
        },
      }),
    );
    s3.on(ListObjectsV2Command, { Bucket: 'weights-bucket', Prefix: 'llama-8b/' })
      .resolvesOnce({
        Contents: [{ Key: 'llama-8b/config.json' }, { Key: 'llama-8b/tokenizer.json' }],
        IsTruncated: true,
        NextContinuationToken: 'next',
      })
      .resolvesOnce({ Contents: [{ Key: 'llama-8b/model-00001-of-00002.safetensors' }] });
    s3.on(ListObjectsV2Command, { Bucket: 'weights-bucket', Prefix: 'llama-70b/' }).resolves({
      Contents: [{ Key: 'llama-70b/original/consolidated.00.pth' }],
    });
    s3.on(ListObjectsV2Command, { Bucket: 'elsewhere-bucket' }).rejects(
      named('PermanentRedirect', 'moved'),
    );

    const { out } = await doctor(['--region', 'us-east-1', '--config-file', file, '--json']);

    const weights = (JSON.parse(out) as DoctorReport).checks.filter(
      (c) => c.check === 'model-weights',
    );
    expect(weights.map((c) => [c.subject, c.status, c.message])).toEqual([
      ['qwen3-8b', 'ok', 's3://weights-bucket/llama-8b/: config.json and 1 tensor file(s)'],
      [
        'qwen3-14b',
        'fail',
        's3://weights-bucket/llama-70b/ holds 1 object(s) but no config.json at its top.',
      ],
      [
        'qwen3-32b',
        'fail',
        'Bucket elsewhere-bucket is not in us-east-1; SageMaker reads model data from its own region.',
      ],
    ]);
    expect(s3.commandCalls(ListObjectsV2Command).map((c) => c.args[0].input)).toEqual(
      expect.arrayContaining([
        { Bucket: 'weights-bucket', Prefix: 'llama-8b/' },
        { Bucket: 'weights-bucket', Prefix: 'llama-8b/', ContinuationToken: 'next' },
        { Bucket: 'weights-bucket', Prefix: 'llama-70b/' },
        { Bucket: 'elsewhere-bucket', Prefix: 'qwen/' },
      ]),
    );
    expect(s3.calls()).toHaveLength(4);
  });

  it('accepts a gated model with a token secret that exists, and fails one whose secret is missing', async () => {
    const config = loadConfig({ env: 'dev' });
    const withToken = (id: string, arn: string) =>
      Object.assign(config.models[id] ?? {}, { hfTokenSecretArn: arn });
    withToken('qwen3-8b', 'arn:aws:secretsmanager:us-east-1:123456789012:secret:hf-token-AbCdEf');
    withToken('qwen3-14b', 'arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-XyZ');
    secrets
      .on(DescribeSecretCommand, {
        SecretId: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:hf-token-AbCdEf',
      })
      .resolves({ Name: 'hf-token' });
    secrets
      .on(DescribeSecretCommand, {
        SecretId: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-XyZ',
      })
      .rejects(new ResourceNotFoundException({ message: 'no', $metadata: {} }));
    const hf = hub({
      'Qwen/Qwen3-8B': { gated: 'auto' },
      'Qwen/Qwen3-14B': { gated: 'manual' },
      'Qwen/Qwen3-32B': { gated: false },
    });
    const context: CheckContext = {
      config,
      region: 'us-east-1',
      account: ACCOUNT,
      clients: { ...defaultDoctorClients('us-east-1'), fetch: hf.fetch },
    };

    const checks = await modelWeightsChecks(context);

    expect(checks.map((c) => [c.subject, c.status])).toEqual([
      ['qwen3-8b', 'ok'],
      ['qwen3-14b', 'fail'],
      ['qwen3-32b', 'ok'],
    ]);
    expect(checks[0]?.message).toBe(
      'Qwen/Qwen3-8B is gated (auto approval); token secret hf-token exists (its account must have accepted the licence)',
    );
    expect(secrets.commandCalls(DescribeSecretCommand)).toHaveLength(2);
  });

  it('answers a missing repository as "no such image" without a fallback', async () => {
    readyAccount();
    ecr
      .on(DescribeImagesCommand)
      .rejects(new RepositoryNotFoundException({ message: 'no repo', $metadata: {} }));

    const report = JSON.parse(
      (await doctor(['--region', 'us-east-1', '--json'])).out,
    ) as DoctorReport;

    expect(report.checks.filter((c) => c.check === 'container-image').map((c) => c.status)).toEqual(
      ['fail', 'fail'],
    );
    expect(ecr.commandCalls(BatchGetImageCommand)).toHaveLength(0);
  });
  it("fails reservations the account's Lambda concurrency cannot hold, and warns when the config assumes another quota", async () => {
    readyAccount();
    // A new account's quota (AWS starts some at 10 to 400): prod reserves 700 of it.
    lambda.on(GetAccountSettingsCommand).resolves({
      AccountLimit: { ConcurrentExecutions: 400, UnreservedConcurrentExecutions: 400 },
    });
    const low = await doctor(['--env', 'prod', '--region', 'us-east-1']);
    expect(low.out).toContain(
      "FAIL  lambda-concurrency: The account's Lambda concurrency is 400; the functions reserve 700 (authorizer 100, api 200, chat 400), more than the 300 Lambda lets be reserved: the Api stack would fail.",
    );
    expect(low.out).toContain('set environment.accountConcurrency to 400');
    expect(low.code).toBe(1);
    expect(lambda.commandCalls(GetAccountSettingsCommand).map((c) => c.args[0].input)).toEqual([
      {},
    ]);

    // dev reserves 35: it fits 400, but synth checks against the 1,000 the config assumes.
    const dev = JSON.parse((await doctor(['--region', 'us-east-1', '--json'])).out) as DoctorReport;
    expect(dev.checks.find((c) => c.check === 'lambda-concurrency')).toMatchObject({
      status: 'warn',
      message:
        "The account's Lambda concurrency is 400, the config assumes 1000; the reservations (35) fit (400 unreserved now).",
    });
  });

  it('checks the on-demand training quota when the config turns managed spot training off', async () => {
    readyAccount();
    serviceQuotas
      .on(ListAWSDefaultServiceQuotasCommand)
      .resolves({ Quotas: [quota('ml.g6e.2xlarge for training job usage', 2, 'L-G6E2OD')] });
    const file = path.join(tmpdir(), `doctor-on-demand-${process.pid}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        fineTuning: { training: { spot: { enabled: false, maxWaitSeconds: 172_800 } } },
      }),
    );

    const report = JSON.parse(
      (await doctor(['--region', 'us-east-1', '--config-file', file, '--json'])).out,
    ) as DoctorReport;

    expect(report.checks.find((c) => c.check === 'training-quota')).toMatchObject({
      status: 'ok',
      message: 'quota "ml.g6e.2xlarge for training job usage" 2 (one per running job)',
    });
  });

  it("warns that the app's logging-role stack replaces another role, and fails without a role when the app makes none", async () => {
    readyAccount();
    const foreign = `arn:aws:iam::${ACCOUNT}:role/apigateway-cloudwatch-logs`;
    apiGateway.on(GetAccountCommand).resolves({ cloudwatchRoleArn: foreign });
    const replaced = JSON.parse(
      (await doctor(['--region', 'us-east-1', '--json'])).out,
    ) as DoctorReport;
    expect(replaced.checks.find((c) => c.check === 'api-gateway-logging-role')).toMatchObject({
      status: 'warn',
      message: `The account already logs through ${foreign}; deploying Tierline-ApiGatewayAccount replaces it with its own role.`,
    });

    const file = path.join(tmpdir(), `doctor-unmanaged-${process.pid}.json`);
    writeFileSync(file, JSON.stringify({ environment: { manageApiGatewayAccountRole: false } }));
    apiGateway.on(GetAccountCommand).resolves({});
    const unmanaged = await doctor(['--region', 'us-east-1', '--config-file', file]);
    expect(unmanaged.out).toContain(
      'FAIL  api-gateway-logging-role: API Gateway has no CloudWatch Logs role',
    );
    expect(unmanaged.code).toBe(1);
  });
});

describe('the default region', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });

  it('is read where the CDK CLI reads it: AWS_REGION first, then AWS_DEFAULT_REGION, then the profile', async () => {
    process.env.AWS_CONFIG_FILE = path.join(tmpdir(), 'no-such-aws-config');
    process.env.AWS_SHARED_CREDENTIALS_FILE = path.join(tmpdir(), 'no-such-aws-credentials');
    for (const name of [
      'AWS_REGION',
      'AMAZON_REGION',
      'AWS_DEFAULT_REGION',
      'AMAZON_DEFAULT_REGION',
    ]) {
      delete process.env[name];
    }
    expect(await sdkDefaultRegion()).toBeUndefined();

    process.env.AWS_DEFAULT_REGION = 'eu-central-1';
    expect(await sdkDefaultRegion()).toEqual({
      name: 'eu-central-1',
      source: 'AWS_DEFAULT_REGION',
    });

    process.env.AWS_REGION = 'ap-south-1';
    expect(await sdkDefaultRegion()).toEqual({ name: 'ap-south-1', source: 'AWS_REGION' });
  });

  it('is taken from the profile file when no variable names one', async () => {
    const file = path.join(tmpdir(), `doctor-aws-config-${process.pid}`);
    writeFileSync(file, '[profile ops]\nregion = sa-east-1\n');
    for (const name of [
      'AWS_REGION',
      'AMAZON_REGION',
      'AWS_DEFAULT_REGION',
      'AMAZON_DEFAULT_REGION',
    ]) {
      delete process.env[name];
    }
    process.env.AWS_CONFIG_FILE = file;
    process.env.AWS_PROFILE = 'ops';

    expect(await sdkDefaultRegion()).toEqual({
      name: 'sa-east-1',
      source: 'your AWS profile (ops)',
    });
  });
});
