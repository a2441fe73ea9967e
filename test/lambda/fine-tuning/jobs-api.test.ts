import { createHash } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import {
  CreateInferenceComponentCommand,
  DescribeInferenceComponentCommand,
  SageMakerClient,
  StopTrainingJobCommand,
} from '@aws-sdk/client-sagemaker';
import {
  ExecutionAlreadyExists,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { serve } from '@hono/node-server';
import { mockClient } from 'aws-sdk-client-mock';
import OpenAI, { toFile } from 'openai';
import type { Principal } from '../../../lambda/customers/authenticate';
import { createDocumentClient } from '../../../lambda/customers/customers-repository';
import { createFiles } from '../../../lambda/files/create-files';
import { createS3Client } from '../../../lambda/files/file-storage';
import { createFineTuningJobs } from '../../../lambda/fine-tuning/create-jobs';
import { StepFunctionsLauncher } from '../../../lambda/fine-tuning/job-launcher';
import { FineTunedModelResolver } from '../../../lambda/fine-tuning/model-resolver';
import { ModelsRepository } from '../../../lambda/fine-tuning/models-repository';
import { applyTrainingStateChange } from '../../../lambda/fine-tuning/training-state-change';
import { createWorkflowHandler } from '../../../lambda/fine-tuning/workflow-handler';
import { createApiApp } from '../../../lambda/http/app';
import { TestModelBackend } from '../../../lambda/inference/backends/test-model-backend';
import { AuthenticationError } from '../../../lambda/openai/errors';
import { loadConfig } from '../../../lib/config/load';
import { type LocalS3, startLocalS3 } from '../../../local/local-s3';
import { ensureFilesTable, ensureFineTuningTable } from '../../../local/local-tables';
import { adapterFiles, entriesOf, tarGzOf } from '../../support/adapters';
import { type LocalDynamo, newCustomersTable, startDynalite } from '../../support/dynalite';
import { meteringOn } from '../../support/metering';
import {
  expectMatchesSpec,
  expectSpecCompliance,
  specCheckedFetch,
} from '../../support/spec-check';

/**
 * The fine-tuning jobs API over real HTTP with the official `openai` client: jobs, events and spend
 * in dynalite, files and the fine-tuning bucket in s3rver, Step Functions and SageMaker mocked
 * (their exact requests asserted). The workflow's tasks are driven directly, as the state machine
 * would call them.
 */
const config = loadConfig({ env: 'dev' });
const MODEL = 'qwen3-8b';
const FILES_BUCKET = 'files';
const LORA_BUCKET = 'lora';
const STATE_MACHINE = 'arn:aws:states:us-east-1:123456789012:stateMachine:tierline-dev-fine-tuning';
const sfnMock = mockClient(SFNClient);
const sagemakerMock = mockClient(SageMakerClient);

/** Bearer tokens of this test and who they are (the authorizer itself is tested elsewhere). */
const PRINCIPALS: Record<string, Principal> = {
  dev: {
    kind: 'project_key',
    projectId: 'proj_test',
    permissions: 'all',
    customerId: 'cus_dev',
    tier: 'developer',
    usageIdentifierKey: 'k1',
  },
  ent: {
    kind: 'project_key',
    projectId: 'proj_test',
    permissions: 'all',
    customerId: 'cus_ent',
    tier: 'enterprise',
    usageIdentifierKey: 'k2',
  },
  free: {
    kind: 'project_key',
    projectId: 'proj_test',
    permissions: 'all',
    customerId: 'cus_free',
    tier: 'free',
    usageIdentifierKey: 'k3',
  },
  // A Developer customer with a $0.001 monthly spend limit: smaller than any job's estimate below.
  poor: {
    kind: 'project_key',
    projectId: 'proj_test',
    permissions: 'all',
    customerId: 'cus_poor',
    tier: 'developer',
    usageIdentifierKey: 'k4',
    spendLimitMicroUsd: 1_000,
  },
};

const conversation = (i: number) =>
  JSON.stringify({
    messages: [
      { role: 'system', content: 'You answer in one short sentence.' },
      { role: 'user', content: `What is ${i} plus ${i}?` },
      { role: 'assistant', content: `${i} plus ${i} is ${2 * i}.` },
    ],
  });
const trainingJsonl = (n = 12) =>
  `${Array.from({ length: n }, (_, i) => conversation(i)).join('\n')}\n`;

let dynamo: LocalDynamo;
let s3Server: LocalS3;
let s3: ReturnType<typeof createS3Client>;
let server: Server;
let metering: Awaited<ReturnType<typeof meteringOn>>;
let parts: ReturnType<typeof createFineTuningJobs>;
let workflow: ReturnType<typeof createWorkflowHandler>;
let baseUrl: string;
const spec = specCheckedFetch();
const client = (token: string) =>
  new OpenAI({ apiKey: token, baseURL: baseUrl, maxRetries: 0, fetch: spec.fetch });

beforeAll(async () => {
  dynamo = await startDynalite();
  s3Server = await startLocalS3({ bucket: FILES_BUCKET, moreBuckets: [LORA_BUCKET] });
  s3 = createS3Client({ endpoint: s3Server.endpoint });
  await ensureFilesTable(dynamo.client, 'files');
  await ensureFineTuningTable(dynamo.client, 'fine-tuning');
  const { repository } = await newCustomersTable(dynamo);
  metering = await meteringOn(dynamo, config);
  const files = createFiles({
    doc: createDocumentClient(dynamo.client),
    tableName: 'files',
    s3,
    bucket: FILES_BUCKET,
    config: config.files,
  });
  parts = createFineTuningJobs({
    config,
    doc: createDocumentClient(dynamo.client),
    tableName: 'fine-tuning',
    s3,
    filesBucket: FILES_BUCKET,
    fineTuningBucket: LORA_BUCKET,
    files,
    spend: metering.spend,
    ledger: metering.ledger,
    launcher: new StepFunctionsLauncher({
      sfn: new SFNClient({ region: 'us-east-1' }),
      sagemaker: new SageMakerClient({ region: 'us-east-1' }),
      stateMachineArn: STATE_MACHINE,
      environmentName: config.environment.name,
    }),
  });
  workflow = createWorkflowHandler({
    jobs: parts.jobs,
    models: new ModelsRepository(createDocumentClient(dynamo.client), 'fine-tuning'),
    s3,
    sagemaker: new SageMakerClient({ region: 'us-east-1' }),
    config,
    bucket: LORA_BUCKET,
    billing: parts.billing,
  });
  const app = createApiApp({
    config,
    principalOf: async (c) => {
      const principal = PRINCIPALS[(c.req.header('authorization') ?? '').replace(/^Bearer /, '')];
      if (!principal) throw new AuthenticationError();
      return principal;
    },
    customers: repository,
    backend: new TestModelBackend(),
    ...metering,
    files,
    fineTuningJobs: parts.service,
    fineTunedModels: new FineTunedModelResolver({
      config,
      models: new ModelsRepository(createDocumentClient(dynamo.client), 'fine-tuning'),
    }),
    logError: (message, details) => console.error(message, details),
  });
  server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
  await new Promise<void>((resolve) =>
    server.listening ? resolve() : server.once('listening', () => resolve()),
  );
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  s3.destroy();
  await s3Server.stop();
  await dynamo.stop();
});

beforeEach(() => {
  sfnMock.reset();
  sagemakerMock.reset();
  sfnMock
    .on(StartExecutionCommand)
    .resolves({ executionArn: `${STATE_MACHINE}:x`, startDate: new Date() });
});
afterEach(() => expectSpecCompliance(spec));

const upload = async (
  token: string,
  content: string,
  purpose: 'fine-tune' | 'batch' = 'fine-tune',
) =>
  client(token).files.create({ file: await toFile(Buffer.from(content), 'train.jsonl'), purpose });

const reservedNow = async (customerId: string) =>
  (await metering.spend.getMonth(customerId)).reservedMicroUsd;

/** The training input the job copied into the fine-tuning bucket. */
async function copiedInput(jobId: string): Promise<string> {
  const object = await s3.send(
    new GetObjectCommand({
      Bucket: LORA_BUCKET,
      Key: `jobs/${jobId}/input/training/training.jsonl`,
    }),
  );
  return (await object.Body?.transformToString()) ?? '';
}

describe('creating a job', () => {
  it('checks the file, shows and holds the estimate, copies the input and starts the execution named after the job', async () => {
    const content = trainingJsonl(12);
    const file = await upload('dev', content);
    const openai = client('dev');

    const job = await openai.fineTuning.jobs.create({
      model: MODEL,
      training_file: file.id,
      suffix: 'adder',
      seed: 42,
      metadata: { team: 'math' },
    });

    expectMatchesSpec('FineTuningJob', job);
    expect(job).toMatchObject({
      object: 'fine_tuning.job',
      model: MODEL,
      status: 'validating_files',
      training_file: file.id,
      validation_file: null,
      user_provided_suffix: 'adder',
      seed: 42,
      metadata: { team: 'math' },
      fine_tuned_model: null,
      organization_id: 'cus_dev',
      // 12 examples x 3 epochs < 100: "auto" gives ceil(100 / 12) = 9 epochs, 0.2% of 12 rounds up
      // to 1.
      hyperparameters: { n_epochs: 9, batch_size: 1, learning_rate_multiplier: 1 },
    });
    const extra = job as unknown as {
      estimated_trained_tokens: number;
      estimated_cost_usd: number;
    };
    // The tokenizer counts each conversation as the Llama 3.1 chat template renders it: tens of
    // tokens each.
    expect(extra.estimated_trained_tokens % 9).toBe(0);
    expect(extra.estimated_trained_tokens / 9).toBeGreaterThan(12 * 20);
    expect(extra.estimated_trained_tokens / 9).toBeLessThan(12 * 80);
    // Developer trains at $3 per 1M tokens; the estimate is held against the month's spend.
    const estimateMicroUsd = Math.ceil(extra.estimated_trained_tokens * 3);
    expect(extra.estimated_cost_usd).toBeCloseTo(estimateMicroUsd / 1e6, 6);
    expect(await reservedNow('cus_dev')).toBe(estimateMicroUsd);

    expect(sfnMock.commandCalls(StartExecutionCommand).map((call) => call.args[0].input)).toEqual([
      { stateMachineArn: STATE_MACHINE, name: job.id, input: JSON.stringify({ jobId: job.id }) },
    ]);
    expect(await copiedInput(job.id)).toBe(content);

    const events = await openai.fineTuning.jobs.listEvents(job.id);
    expect(events.data.map((e) => e.message)).toEqual([
      expect.stringMatching(
        /^Training file checked: 12 examples, \d+ tokens; 9 epochs = \d+ trained tokens, estimated \$0\.\d{6}/,
      ),
      `Created fine-tuning job ${job.id}`,
    ]);
    await openai.fineTuning.jobs.cancel(job.id); // leaves the next tests' spend alone
  });

  it('takes the hyperparameters from method.supervised (numbers) or the deprecated top level, and LoRA settings within bounds', async () => {
    const file = await upload('ent', trainingJsonl(10));
    const openai = client('ent');
    const viaMethod = await openai.fineTuning.jobs.create({
      model: MODEL,
      training_file: file.id,
      method: {
        type: 'supervised',
        supervised: {
          hyperparameters: { n_epochs: 2, batch_size: 4, learning_rate_multiplier: 0.5 },
        },
      },
      // Tierline's LoRA settings travel as an extra body field.
      lora: { rank: 32, alpha: 64, target_modules: ['q_proj', 'v_proj'] },
    } as OpenAI.FineTuning.JobCreateParams);
    expect(viaMethod.hyperparameters).toEqual({
      n_epochs: 2,
      batch_size: 4,
      learning_rate_multiplier: 0.5,
    });
    expect(viaMethod.method).toEqual({
      type: 'supervised',
      supervised: {
        hyperparameters: { n_epochs: 2, batch_size: 4, learning_rate_multiplier: 0.5 },
      },
    });
    expect((viaMethod as unknown as { lora: unknown }).lora).toEqual({
      rank: 32,
      alpha: 64,
      target_modules: ['q_proj', 'v_proj'],
    });
    const deprecated = await openai.fineTuning.jobs.create({
      model: MODEL,
      training_file: file.id,
      hyperparameters: { n_epochs: 'auto', batch_size: 2, learning_rate_multiplier: 'auto' },
    });
    expect(deprecated.hyperparameters).toEqual({
      n_epochs: 10,
      batch_size: 2,
      learning_rate_multiplier: 1,
    });
    for (const job of [viaMethod, deprecated]) await openai.fineTuning.jobs.cancel(job.id);
  });

  it.each([
    [{ model: 'qwen3-32b' }, 'model', /cannot be fine-tuned/],
    [{ model: 'ft:qwen3-8b:cus_dev::x' }, 'model', /on top of a fine-tuned model/],
    [{ suffix: 'a:b' }, 'suffix', /suffix/],
    [{ seed: -1 }, 'seed', /seed/],
    [{ lora: { rank: 7 } }, 'lora.rank', /8, 16, 32, 64/],
    [{ lora: { alpha: 1000 } }, 'lora.alpha', /from 1 to 128/],
    [{ lora: { target_modules: ['lm_head'] } }, 'lora.target_modules', /q_proj/],
    [{ method: { type: 'dpo' } }, 'method.type', /not supported/],
    [
      { method: { type: 'supervised', supervised: { hyperparameters: { n_epochs: 0 } } } },
      'method.supervised.hyperparameters.n_epochs',
      /1 to 50/,
    ],
    [
      { hyperparameters: { learning_rate_multiplier: 0 } },
      'hyperparameters.learning_rate_multiplier',
      /above 0/,
    ],
    [
      {
        hyperparameters: { n_epochs: 2 },
        method: { type: 'supervised', supervised: { hyperparameters: { n_epochs: 3 } } },
      },
      'hyperparameters',
      /deprecated/,
    ],
    [
      { integrations: [{ type: 'wandb', wandb: { project: 'x' } }] },
      'integrations',
      /not supported/,
    ],
    [{ temperature: 1 }, 'temperature', /Unrecognized/],
  ])(
    'refuses %j with a 400 naming %s, before anything is launched',
    async (change, param, message) => {
      const file = await upload('dev', trainingJsonl(10));
      const error = await client('dev')
        .fineTuning.jobs.create({ model: MODEL, training_file: file.id, ...change } as never)
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.BadRequestError);
      expect((error as InstanceType<typeof OpenAI.BadRequestError>).param).toBe(param);
      expect((error as Error).message).toMatch(message);
      expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
    },
  );
});

describe('the training file is checked before anything is launched', () => {
  const refusal = async (content: string, purpose: 'fine-tune' | 'batch' = 'fine-tune') => {
    const file = await upload('dev', content, purpose);
    const error = (await client('dev')
      .fineTuning.jobs.create({ model: MODEL, training_file: file.id })
      .catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
    return error;
  };

  it('names each bad line: roles, missing assistant, empty content, weights, not chat format', async () => {
    const lines = trainingJsonl(12).trimEnd().split('\n');
    lines[2] = JSON.stringify({
      messages: [
        { role: 'tool', content: 'x' },
        { role: 'assistant', content: 'y' },
      ],
    });
    lines[4] = JSON.stringify({ messages: [{ role: 'user', content: 'only a question' }] });
    lines[6] = JSON.stringify({
      messages: [
        { role: 'user', content: '  ' },
        { role: 'assistant', content: 'y' },
      ],
    });
    lines[8] = JSON.stringify({
      messages: [
        { role: 'user', content: 'q' },
        { role: 'assistant', content: 'y', weight: 2 },
      ],
    });
    lines[9] = JSON.stringify({ prompt: 'completion format', completion: 'is not chat' });
    const error = await refusal(`${lines.join('\n')}\n`);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error.status).toBe(400);
    expect(error.param).toBe('training_file');
    expect(error.code).toBe('invalid_training_file');
    expect(error.message).toContain(
      'line 3: messages[0].role must be one of system, user, assistant (got "tool")',
    );
    expect(error.message).toContain('line 5: needs at least one assistant message to learn from');
    expect(error.message).toContain('line 7: messages[0].content is empty');
    expect(error.message).toContain('line 9: messages[1].weight must be 0 or 1');
    expect(error.message).toContain('line 10: must be an object with a "messages" array');
  });

  it('needs the minimum number of examples (config), a fine-tune purpose, and a file the caller owns', async () => {
    const few = await refusal(trainingJsonl(9));
    expect(few).toMatchObject({ status: 400, param: 'training_file', code: 'too_few_examples' });
    expect(few.message).toContain('it has 9 examples; a training file needs at least 10');

    const batchFile = await refusal(
      `${JSON.stringify({ custom_id: 'a', method: 'POST', url: '/v1/chat/completions', body: {} })}\n`,
      'batch',
    );
    expect(batchFile).toMatchObject({
      status: 400,
      param: 'training_file',
      code: 'invalid_file_purpose',
    });

    const unknown = (await client('dev')
      .fineTuning.jobs.create({ model: MODEL, training_file: 'file-doesnotexist' })
      .catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(unknown).toBeInstanceOf(OpenAI.NotFoundError);
    expect(unknown).toMatchObject({ param: 'training_file', code: 'file_not_found' });
  });

  it('checks a validation file the same way, naming validation_file', async () => {
    const training = await upload('dev', trainingJsonl(10));
    const validation = await upload('dev', '{"messages": []}\n');
    const error = (await client('dev')
      .fineTuning.jobs.create({
        model: MODEL,
        training_file: training.id,
        validation_file: validation.id,
      })
      .catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(error).toMatchObject({ status: 400, param: 'validation_file' });
    expect(error.message).toContain('line 1: needs at least one assistant message');
  });
});

describe('tiers and spend', () => {
  it('answers a Free customer 403 naming the tiers that have fine-tuning', async () => {
    const file = await upload('free', trainingJsonl(10));
    const error = (await client('free')
      .fineTuning.jobs.create({ model: MODEL, training_file: file.id })
      .catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(error).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(error).toMatchObject({
      status: 403,
      type: 'permission_error',
      code: 'fine_tuning_not_available_on_tier',
    });
    expect(error.message).toBe(
      '403 Fine-tuning is not available on the Free tier; it is on Developer and Enterprise. See GET /v1/plans.',
    );
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it('refuses a job whose estimate passes the remaining spend limit with 429 insufficient_quota, before any start', async () => {
    const file = await upload('poor', trainingJsonl(12));
    const error = (await client('poor')
      .fineTuning.jobs.create({ model: MODEL, training_file: file.id })
      .catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect(error).toMatchObject({
      status: 429,
      type: 'insufficient_quota',
      code: 'insufficient_quota',
    });
    expect(error.message).toMatch(
      /^429 This fine-tuning job is estimated at \$0\.\d{6} \(\d+ trained tokens at \$3 per 1M\), more than is left of your monthly spend limit \(\$0\.001000/,
    );
    expect(error.headers?.get('x-should-retry')).toBe('false');
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
    expect((await client('poor').fineTuning.jobs.list()).data).toEqual([]);
    expect(await reservedNow('cus_poor')).toBe(0);
  });
});

describe("a job's life, driven as Step Functions would drive it", () => {
  it('goes validating_files -> queued -> running -> succeeded with fine_tuned_model, billed once through the ledger', async () => {
    const openai = client('ent');
    const file = await upload('ent', trainingJsonl(10));
    const created = await openai.fineTuning.jobs.create({
      model: MODEL,
      training_file: file.id,
      suffix: 'life',
    });
    const estimate = (created as unknown as { estimated_trained_tokens: number })
      .estimated_trained_tokens;
    const heldBefore = await reservedNow('cus_ent');

    // Prepare: the base weights must be in the fine-tuning bucket (network isolation).
    await s3.send(
      new PutObjectCommand({
        Bucket: LORA_BUCKET,
        Key: `base-models/${MODEL}/config.json`,
        Body: '{}',
      }),
    );
    const training = (await workflow({ task: 'prepare', jobId: created.id })) as {
      trainingJobName: string;
    };
    expect((await openai.fineTuning.jobs.retrieve(created.id)).status).toBe('queued');

    const change = (status: 'InProgress' | 'Completed', extra: Record<string, unknown> = {}) =>
      applyTrainingStateChange(
        {
          detail: {
            TrainingJobName: training.trainingJobName,
            TrainingJobStatus: status,
            ...extra,
          } as never,
        },
        { jobs: parts.jobs, environmentName: config.environment.name },
      );
    await change('InProgress', {
      SecondaryStatus: 'Training',
      LastModifiedTime: 1_764_000_100_000,
    });
    expect((await openai.fineTuning.jobs.retrieve(created.id)).status).toBe('running');
    // The script reports fewer trained tokens than the API estimated (its own count).
    const trained = estimate - 30;
    await change('Completed', {
      LastModifiedTime: 1_764_000_200_000,
      FinalMetricDataList: [{ MetricName: 'trained_tokens', Value: trained }],
    });

    // A checkpoint per epoch, where SageMaker syncs them.
    for (const step of [10, 20]) {
      await s3.send(
        new PutObjectCommand({
          Bucket: LORA_BUCKET,
          Key: `jobs/${created.id}/checkpoints/checkpoint-${String(step).padStart(8, '0')}/checkpoint.json`,
          Body: JSON.stringify({ step, epoch: step / 10, metrics: { train_loss: 2 - step / 20 } }),
        }),
      );
    }
    const checkpoints = await openai.fineTuning.jobs.checkpoints.list(created.id);
    expect(checkpoints.data.map((c) => [c.step_number, c.metrics.train_loss])).toEqual([
      [20, 1],
      [10, 1.5],
    ]);
    const secondPage = await openai.fineTuning.jobs.checkpoints.list(created.id, {
      limit: 1,
      after: checkpoints.data[0]?.id,
    });
    expect(secondPage.data.map((c) => c.step_number)).toEqual([10]);
    expect(secondPage.has_more).toBe(false);

    // Deploy the trained adapter, wait until in service, succeed.
    const architecture = config.models[MODEL]?.architecture;
    if (!architecture) throw new Error('no architecture');
    const output = `jobs/${created.id}/output/${training.trainingJobName}/output/model/`;
    await s3.send(
      new PutObjectCommand({
        Bucket: LORA_BUCKET,
        Key: `${output}adapter.tar.gz`,
        Body: await tarGzOf(entriesOf(adapterFiles({ architecture, baseModel: MODEL }))),
      }),
    );
    sagemakerMock.on(CreateInferenceComponentCommand).resolves({});
    sagemakerMock
      .on(DescribeInferenceComponentCommand)
      .resolves({ InferenceComponentStatus: 'InService' });
    const deployed = (await workflow({
      task: 'deploy',
      jobId: created.id,
      modelArtifacts: `s3://${LORA_BUCKET}/${output}`,
      trainedTokens: trained,
    })) as { componentName: string };
    await expect(
      workflow({ task: 'checkInService', componentName: deployed.componentName }),
    ).resolves.toEqual({
      status: 'InService',
      failureReason: null,
    });
    await workflow({ task: 'succeed', jobId: created.id });
    await workflow({ task: 'succeed', jobId: created.id }); // Step Functions retries a task whose answer was lost

    const done = await openai.fineTuning.jobs.retrieve(created.id);
    expectMatchesSpec('FineTuningJob', done);
    expect(done).toMatchObject({
      status: 'succeeded',
      trained_tokens: trained,
      fine_tuned_model: `ft:${MODEL}:cus_ent:life:${created.id.replace(/^ftjob-/, '')}`,
    });
    expect(done.finished_at).toEqual(expect.any(Number));

    // One ledger record at Enterprise's $2 per 1M trained tokens, shown in /v1/usage; the hold
    // became that cost.
    const cost = Math.ceil(trained * 2);
    const usage = await spec.fetch(`${baseUrl}/usage?group_by=model`, {
      headers: { authorization: 'Bearer ent' },
    });
    const rows = (
      (await usage.json()) as {
        data: { model: string; requests: number; input_tokens: number; cost_usd: string }[];
      }
    ).data;
    expect(rows.filter((r) => r.model === `fine-tuning:${MODEL}`)).toEqual([
      expect.objectContaining({
        requests: 1,
        input_tokens: trained,
        cost_usd: (cost / 1e6).toFixed(6),
      }),
    ]);
    const month = await metering.spend.getMonth('cus_ent');
    expect(month.reservedMicroUsd).toBe(heldBefore - Math.ceil(estimate * 2));
    expect(month.spentMicroUsd).toBe(cost);

    // Its model answers chat completions through the adapter component the workflow deployed (the
    // test model names the adapter that served it), for its owner only.
    const fineTuned = done.fine_tuned_model as string;
    const reply = await openai.chat.completions.create({
      model: fineTuned,
      messages: [{ role: 'user', content: 'Hi' }],
    });
    expect(reply.model).toBe(fineTuned);
    expect(reply.choices[0]?.message.content).toContain(
      `Served by adapter ${deployed.componentName}.`,
    );
    const stranger = await client('dev')
      .chat.completions.create({ model: fineTuned, messages: [{ role: 'user', content: 'Hi' }] })
      .catch((e: unknown) => e);
    expect(stranger).toMatchObject({ status: 404 });

    const events = await openai.fineTuning.jobs.listEvents(created.id, { limit: 100 });
    expect(events.data.map((e) => e.message)).toEqual(
      expect.arrayContaining([
        `The job has successfully completed: ${done.fine_tuned_model} is ready`,
        'Training completed; deploying the adapter',
        'Training (Training)',
        'Files validated; the training job is queued',
      ]),
    );
    const page = await openai.fineTuning.jobs.listEvents(created.id, { limit: 2 });
    expect(page.data).toHaveLength(2);
    expect(page.has_more).toBe(true);
    const next = await openai.fineTuning.jobs.listEvents(created.id, {
      limit: 2,
      after: page.data[1]?.id,
    });
    expect(next.data[0]?.id).toBe(events.data[2]?.id);

    // A succeeded job cannot be cancelled.
    const cancel = await openai.fineTuning.jobs.cancel(created.id).catch((e: unknown) => e);
    expect(cancel).toMatchObject({ status: 400, code: 'invalid_state' });
  });

  it('a failed job gives its reservation back, once, and bills nothing', async () => {
    const file = await upload('ent', trainingJsonl(10));
    const before = await metering.spend.getMonth('cus_ent');
    const job = await client('ent').fineTuning.jobs.create({
      model: MODEL,
      training_file: file.id,
    });
    expect(await reservedNow('cus_ent')).toBeGreaterThan(before.reservedMicroUsd);
    const failure = {
      task: 'fail' as const,
      jobId: job.id,
      error: 'States.TaskFailed',
      cause: '{"FailureReason":"OOM"}',
    };
    await workflow(failure);
    await workflow(failure);
    const after = await metering.spend.getMonth('cus_ent');
    expect(after).toMatchObject({
      reservedMicroUsd: before.reservedMicroUsd,
      spentMicroUsd: before.spentMicroUsd,
    });
    expect(await client('ent').fineTuning.jobs.retrieve(job.id)).toMatchObject({
      status: 'failed',
      error: { code: 'job_failed', message: 'OOM', param: null },
    });
  });
});

describe('cancelling', () => {
  it('stops the execution and the training job (exact requests), releases the hold, and answers a retry the same', async () => {
    const openai = client('dev');
    const file = await upload('dev', trainingJsonl(10));
    const before = await reservedNow('cus_dev');
    const job = await openai.fineTuning.jobs.create({ model: MODEL, training_file: file.id });
    expect(await reservedNow('cus_dev')).toBeGreaterThan(before);
    sagemakerMock
      .on(StopTrainingJobCommand)
      .rejects(
        Object.assign(new Error('Requested resource not found.'), { name: 'ValidationException' }),
      );

    const cancelled = await openai.fineTuning.jobs.cancel(job.id);
    expectMatchesSpec('FineTuningJob', cancelled);
    expect(cancelled.status).toBe('cancelled');
    expect(await reservedNow('cus_dev')).toBe(before);
    const again = await openai.fineTuning.jobs.cancel(job.id);
    expect(again.status).toBe('cancelled');
    expect(await reservedNow('cus_dev')).toBe(before);

    const stop = {
      executionArn: `arn:aws:states:us-east-1:123456789012:execution:tierline-dev-fine-tuning:${job.id}`,
      cause: 'The fine-tuning job was cancelled by its owner',
    };
    expect(sfnMock.commandCalls(StopExecutionCommand).map((c) => c.args[0].input)).toEqual([
      stop,
      stop,
    ]);
    const trainingJob = { TrainingJobName: `tierline-dev-ft-${job.id.replace(/^ftjob-/, '')}` };
    expect(sagemakerMock.commandCalls(StopTrainingJobCommand).map((c) => c.args[0].input)).toEqual([
      trainingJob,
      trainingJob,
    ]);
    // The workflow's fail step, reached later by the stopped execution's training, changes nothing.
    await workflow({ task: 'fail', jobId: job.id, error: 'States.Aborted' });
    expect((await openai.fineTuning.jobs.retrieve(job.id)).status).toBe('cancelled');
    expect(await reservedNow('cus_dev')).toBe(before);
  });

  it('a retried create after the execution exists is not an error (StartExecution is named after the job)', async () => {
    sfnMock
      .on(StartExecutionCommand)
      .rejects(new ExecutionAlreadyExists({ message: 'exists', $metadata: {} }));
    const file = await upload('dev', trainingJsonl(10));
    const job = await client('dev').fineTuning.jobs.create({
      model: MODEL,
      training_file: file.id,
    });
    expect(job.status).toBe('validating_files');
    await client('dev').fineTuning.jobs.cancel(job.id);
  });
});

describe('ownership: another customer sees nothing', () => {
  it('answers 404 to retrieve, events, checkpoints and cancel of another customer’s job, and to a create naming its file', async () => {
    const file = await upload('dev', trainingJsonl(10));
    const job = await client('dev').fineTuning.jobs.create({
      model: MODEL,
      training_file: file.id,
    });
    const other = client('ent');
    for (const call of [
      () => other.fineTuning.jobs.retrieve(job.id),
      () => other.fineTuning.jobs.listEvents(job.id),
      () => other.fineTuning.jobs.checkpoints.list(job.id),
      () => other.fineTuning.jobs.cancel(job.id),
    ]) {
      const error = await call().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.NotFoundError);
      expect(error).toMatchObject({
        code: 'fine_tuning_job_not_found',
        param: 'fine_tuning_job_id',
      });
      expect((error as Error).message).toBe(`404 No such fine-tuning job: ${job.id}`);
    }
    expect((await client('dev').fineTuning.jobs.retrieve(job.id)).status).toBe('validating_files');
    expect((await other.fineTuning.jobs.list({ limit: 100 })).data.map((j) => j.id)).not.toContain(
      job.id,
    );
    const unknown = await other.fineTuning.jobs.retrieve('ftjob-nope').catch((e: unknown) => e);
    expect(unknown).toMatchObject({ status: 404, code: 'fine_tuning_job_not_found' });

    sfnMock.resetHistory();
    const stolen = await other.fineTuning.jobs
      .create({ model: MODEL, training_file: file.id })
      .catch((e: unknown) => e);
    expect(stolen).toBeInstanceOf(OpenAI.NotFoundError);
    expect(stolen).toMatchObject({ code: 'file_not_found', param: 'training_file' });
    expect((stolen as Error).message).toBe(`404 No such File object: ${file.id}`);
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
    await client('dev').fineTuning.jobs.cancel(job.id);
  });
});

describe('listing', () => {
  it("pages the caller's jobs newest first with after/limit and has_more", async () => {
    const file = await upload('ent', trainingJsonl(10));
    const openai = client('ent');
    const made: string[] = [];
    for (let i = 0; i < 3; i++) {
      const job = await openai.fineTuning.jobs.create({ model: MODEL, training_file: file.id });
      made.push(job.id);
      await openai.fineTuning.jobs.cancel(job.id);
      await new Promise((resolve) => setTimeout(resolve, 1_100)); // distinct creation seconds
    }
    const first = await openai.fineTuning.jobs.list({ limit: 2 });
    expectMatchesSpec('ListPaginatedFineTuningJobsResponse', {
      object: 'list',
      data: first.data,
      has_more: first.has_more,
    });
    expect(first.data.map((j) => j.id)).toEqual([made[2], made[1]]);
    expect(first.has_more).toBe(true);
    const second = await openai.fineTuning.jobs.list({ limit: 2, after: made[1] });
    expect(second.data[0]?.id).toBe(made[0]);
    const bad = await openai.fineTuning.jobs.list({ limit: 0 }).catch((e: unknown) => e);
    expect(bad).toMatchObject({ status: 400, param: 'limit' });
  });
});

interface CreateAnswer {
  id: string;
  status: string;
  estimated_cost_usd: number;
  error: { code: string };
}

describe('Idempotency-Key: a retried create answers the same job, held and launched once', () => {
  const post = (key: string, body: Record<string, unknown>) =>
    fetch(`${baseUrl}/fine_tuning/jobs`, {
      method: 'POST',
      headers: {
        authorization: 'Bearer dev',
        'content-type': 'application/json',
        'idempotency-key': key,
      },
      body: JSON.stringify(body),
    }).then(async (r) => ({
      status: r.status,
      headers: r.headers,
      json: (await r.json()) as CreateAnswer,
    }));
  const fingerprint = (body: Record<string, unknown>) =>
    createHash('sha256').update(JSON.stringify(body)).digest('hex');

  it('two attempts with one key, racing, make one job, one hold and one StartExecution; then it replays', async () => {
    const file = await upload('dev', trainingJsonl(10));
    const body = { model: MODEL, training_file: file.id };
    const before = await reservedNow('cus_dev');
    const [a, b] = await Promise.all([post('race-key-1', body), post('race-key-1', body)]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(b.json.id).toBe(a.json.id);
    const again = await post('race-key-1', body);
    expect(again.json.id).toBe(a.json.id);
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(1);
    expect((await reservedNow('cus_dev')) - before).toBe(
      Math.round(a.json.estimated_cost_usd * 1e6),
    );
    // Another key is another job.
    const other = await post('race-key-2', body);
    expect(other.json.id).not.toBe(a.json.id);
    await client('dev').fineTuning.jobs.cancel(a.json.id);
    await client('dev').fineTuning.jobs.cancel(other.json.id);
    expect(await reservedNow('cus_dev')).toBe(before);
  });

  it('refuses the key with another body (400), and a malformed key (400)', async () => {
    const file = await upload('dev', trainingJsonl(10));
    const first = await post('reuse-key', { model: MODEL, training_file: file.id });
    expect(first.status).toBe(200);
    const reused = await post('reuse-key', {
      model: MODEL,
      training_file: file.id,
      suffix: 'other',
    });
    expect(reused.status).toBe(400);
    expect(reused.json.error.code).toBe('idempotency_key_reused');
    const bad = await post('x'.repeat(300), { model: MODEL, training_file: file.id });
    expect(bad.status).toBe(400);
    expect(bad.json.error.code).toBe('invalid_idempotency_key');
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(1);
    await client('dev').fineTuning.jobs.cancel(first.json.id);
  });

  it('a launch that threw gives the key back: the retry creates and starts a job', async () => {
    const file = await upload('dev', trainingJsonl(10));
    const body = { model: MODEL, training_file: file.id };
    sfnMock.on(StartExecutionCommand).rejectsOnce(new Error('Step Functions is down'));
    const failed = await post('launch-key', body);
    expect(failed.status).toBeGreaterThanOrEqual(500);
    const retried = await post('launch-key', body);
    expect(retried.status).toBe(200);
    expect(retried.json.status).toBe('validating_files');
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(2);
    await client('dev').fineTuning.jobs.cancel(retried.json.id);
  });

  it('a retry while the first attempt is in flight is a 409 to retry; a claim whose attempt died is taken over', async () => {
    const file = await upload('dev', trainingJsonl(10));
    const body = { model: MODEL, training_file: file.id };
    const now = Math.floor(Date.now() / 1000);
    const claim = { jobId: 'ftjob-neverwritten', fingerprint: fingerprint(body) };
    await parts.jobs.claimIdempotencyKey(
      { customerId: 'cus_dev', projectId: 'proj_test' },
      'inflight-key',
      {
        ...claim,
        claimedAt: now,
      },
    );
    const busy = await post('inflight-key', body);
    expect(busy.status).toBe(409);
    expect(busy.json.error.code).toBe('idempotency_key_in_use');
    expect(busy.headers.get('retry-after')).toBe('1');
    await parts.jobs.claimIdempotencyKey(
      { customerId: 'cus_dev', projectId: 'proj_test' },
      'dead-key',
      {
        ...claim,
        claimedAt: now - 16 * 60,
      },
    );
    const taken = await post('dead-key', body);
    expect(taken.status).toBe(200);
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(1);
    expect((await post('dead-key', body)).json.id).toBe(taken.json.id);
    await client('dev').fineTuning.jobs.cancel(taken.json.id);
  }, 20_000);
});
