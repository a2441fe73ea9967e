import { Readable } from 'node:stream';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import {
  CreateInferenceComponentCommand,
  DeleteInferenceComponentCommand,
  DescribeInferenceComponentCommand,
  SageMakerClient,
} from '@aws-sdk/client-sagemaker';
import { mockClient } from 'aws-sdk-client-mock';
import { defaultProjectId } from '../../../lambda/customers/key-permissions';
import { everyProject } from '../../../lambda/customers/project-ownership';
import type { JobRecord } from '../../../lambda/fine-tuning/jobs';
import { JobsRepository } from '../../../lambda/fine-tuning/jobs-repository';
import { ModelsRepository } from '../../../lambda/fine-tuning/models-repository';
import { createWorkflowHandler } from '../../../lambda/fine-tuning/workflow-handler';
import { failureMessage, type WorkflowDeps } from '../../../lambda/fine-tuning/workflow-tasks';
import { createDocumentClient } from '../../../lambda/storage/document-client';
import { loadConfig } from '../../../lib/config/load';
import { ensureFineTuningTable } from '../../../local/local-tables';
import { adapterFiles, entriesOf, tarGzOf } from '../../support/adapters';
import { type LocalDynamo, startDynalite } from '../../support/dynalite';

const config = loadConfig({ env: 'dev' });
const BUCKET = 'tierline-dev-lora-123456789012-us-east-1';
const s3Mock = mockClient(S3Client);
const sagemakerMock = mockClient(SageMakerClient);
let dynamo: LocalDynamo;
let jobs: JobsRepository;
let models: ModelsRepository;
let handler: ReturnType<typeof createWorkflowHandler>;
let tables = 0;

beforeAll(async () => {
  dynamo = await startDynalite();
});
afterAll(() => dynamo.stop());
beforeEach(async () => {
  s3Mock.reset();
  sagemakerMock.reset();
  tables += 1;
  await ensureFineTuningTable(dynamo.client, `workflow-${tables}`);
  jobs = new JobsRepository(createDocumentClient(dynamo.client), `workflow-${tables}`);
  models = new ModelsRepository(createDocumentClient(dynamo.client), `workflow-${tables}`);
  const deps: WorkflowDeps = {
    jobs,
    models,
    s3: new S3Client({ region: 'us-east-1' }),
    sagemaker: new SageMakerClient({ region: 'us-east-1' }),
    config,
    bucket: BUCKET,
    now: () => new Date('2026-12-01T10:00:00Z'),
  };
  handler = createWorkflowHandler(deps);
});

function job(overrides: Partial<JobRecord> = {}): JobRecord {
  return {
    jobId: 'ftjob-Abc123',
    customerId: 'cus_a',
    model: 'qwen3-8b',
    status: 'validating_files',
    createdAt: 1_764_000_000,
    trainingFile: 'file-abc',
    suffix: 'support',
    seed: 7,
    hyperparameters: { nEpochs: 3, batchSize: 1, learningRateMultiplier: 1 },
    lora: { rank: 16, alpha: 32, targetModules: ['q_proj', 'v_proj'] },
    estimatedTrainedTokens: 3_000,
    estimatedCostUsd: 0.009,
    ...overrides,
  };
}

describe('prepare', () => {
  it('checks the base weights are in S3 and returns the training input; the job is queued', async () => {
    await jobs.create(job());
    s3Mock.on(ListObjectsV2Command).resolves({ KeyCount: 1 });
    const input = await handler({ task: 'prepare', jobId: 'ftjob-Abc123' });
    expect(s3Mock.commandCalls(ListObjectsV2Command)[0]?.args[0].input).toEqual({
      Bucket: BUCKET,
      Prefix: 'base-models/qwen3-8b/',
      MaxKeys: 1,
    });
    expect(input).toEqual({
      trainingJobName: 'tierline-dev-ft-Abc123',
      instanceType: 'ml.g6e.2xlarge',
      hyperparameters: {
        base_model: 'qwen3-8b',
        n_epochs: '3',
        batch_size: '1',
        learning_rate_multiplier: '1',
        lora_rank: '16',
        lora_alpha: '32',
        target_modules: 'q_proj,v_proj',
        max_seq_length: String(config.fineTuning.training.maxSequenceTokens),
        micro_batch_tokens: String(config.fineTuning.training.microBatchTokens),
        seed: '7',
      },
      modelUri: `s3://${BUCKET}/base-models/qwen3-8b/`,
      trainingUri: `s3://${BUCKET}/jobs/ftjob-Abc123/input/training/`,
      validationUri: null,
      outputUri: `s3://${BUCKET}/jobs/ftjob-Abc123/output/`,
      checkpointUri: `s3://${BUCKET}/jobs/ftjob-Abc123/checkpoints/`,
    });
    expect((await jobs.get('ftjob-Abc123'))?.status).toBe('queued');
  });

  it('fails with a message that says how to put the base weights in place', async () => {
    await jobs.create(job());
    s3Mock.on(ListObjectsV2Command).resolves({ KeyCount: 0 });
    await expect(handler({ task: 'prepare', jobId: 'ftjob-Abc123' })).rejects.toThrow(
      /The weights of qwen3-8b are not in s3:\/\/.*\/base-models\/qwen3-8b\/: an operator copies them there once/,
    );
  });

  it('refuses a job that was cancelled before it started', async () => {
    await jobs.create(job({ status: 'cancelled' }));
    await expect(handler({ task: 'prepare', jobId: 'ftjob-Abc123' })).rejects.toThrow(
      'the job is cancelled',
    );
  });
});

describe('deploy, wait and succeed', () => {
  const artifacts = `s3://${BUCKET}/jobs/ftjob-Abc123/output/tierline-dev-ft-Abc123/output/model/`;

  const adapterKey = 'jobs/ftjob-Abc123/output/tierline-dev-ft-Abc123/output/model/adapter.tar.gz';

  async function adapterInS3(options: Parameters<typeof adapterFiles>[0]) {
    const bytes = await tarGzOf(entriesOf(adapterFiles(options)));
    // What the job wrote under its S3OutputPath: the script's archive and its training summary.
    s3Mock.on(ListObjectsV2Command).resolves({
      KeyCount: 2,
      Contents: [
        { Key: adapterKey },
        { Key: 'jobs/ftjob-Abc123/output/tierline-dev-ft-Abc123/output/data/training.json' },
      ],
    });
    s3Mock.on(HeadObjectCommand).resolves({ ContentLength: bytes.length });
    s3Mock.on(GetObjectCommand).callsFake(() => ({ Body: Readable.from([bytes]) }));
  }

  it('checks the trained adapter and creates its component on the base component (exact request)', async () => {
    await jobs.create(job({ status: 'running' }));
    const architecture = config.models['qwen3-8b']?.architecture;
    if (!architecture) throw new Error('no architecture');
    await adapterInS3({ architecture, baseModel: 'qwen3-8b' });
    sagemakerMock.on(CreateInferenceComponentCommand).resolves({});

    const result = await handler({
      task: 'deploy',
      jobId: 'ftjob-Abc123',
      modelArtifacts: artifacts,
      trainedTokens: 2_990,
    });

    expect(result).toEqual({
      componentName: 'tierline-dev-lora-Abc123',
      artifactUrl: `${artifacts}adapter.tar.gz`,
    });
    expect(s3Mock.commandCalls(HeadObjectCommand)[0]?.args[0].input).toEqual({
      Bucket: BUCKET,
      Key: 'jobs/ftjob-Abc123/output/tierline-dev-ft-Abc123/output/model/adapter.tar.gz',
    });
    expect(sagemakerMock.commandCalls(CreateInferenceComponentCommand)[0]?.args[0].input).toEqual({
      InferenceComponentName: 'tierline-dev-lora-Abc123',
      EndpointName: 'tierline-dev-qwen3-8b',
      Specification: {
        BaseInferenceComponentName: 'tierline-dev-qwen3-8b-base',
        Container: { ArtifactUrl: `${artifacts}adapter.tar.gz` },
      },
      Tags: [
        { Key: 'tierline:customer', Value: 'cus_a' },
        { Key: 'tierline:job', Value: 'ftjob-Abc123' },
      ],
    });
    expect(await jobs.get('ftjob-Abc123')).toMatchObject({
      adapterComponent: 'tierline-dev-lora-Abc123',
      trainedTokens: 2_990,
    });
    // The registry knows the model from now on, as deploying: not listed, not served until it is in
    // service.
    expect(await models.get('ft:qwen3-8b:cus_a:support:Abc123')).toEqual({
      modelId: 'ft:qwen3-8b:cus_a:support:Abc123',
      modelKey: 'Abc123',
      customerId: 'cus_a',
      baseModel: 'qwen3-8b',
      componentName: 'tierline-dev-lora-Abc123',
      artifactUrl: `${artifacts}adapter.tar.gz`,
      source: { kind: 'job', jobId: 'ftjob-Abc123' },
      name: 'support',
      status: 'deploying',
      createdAt: Date.parse('2026-12-01T10:00:00Z') / 1000,
      rank: 16,
    });
  });

  it("finds the adapter in the job's output whatever ModelArtifacts.S3ModelArtifacts says (its uncompressed form is undocumented)", async () => {
    await jobs.create(job({ status: 'running' }));
    const architecture = config.models['qwen3-8b']?.architecture;
    if (!architecture) throw new Error('no architecture');
    await adapterInS3({ architecture, baseModel: 'qwen3-8b' });
    sagemakerMock.on(CreateInferenceComponentCommand).resolves({});
    // The documented example form: an object, model.tar.gz, not a folder.
    const documented = `s3://${BUCKET}/jobs/ftjob-Abc123/output/tierline-dev-ft-Abc123/output/model.tar.gz`;

    const result = await handler({
      task: 'deploy',
      jobId: 'ftjob-Abc123',
      modelArtifacts: documented,
    });

    expect(result).toEqual({
      componentName: 'tierline-dev-lora-Abc123',
      artifactUrl: `s3://${BUCKET}/${adapterKey}`,
    });
    expect(s3Mock.commandCalls(ListObjectsV2Command)[0]?.args[0].input).toEqual({
      Bucket: BUCKET,
      Prefix: 'jobs/ftjob-Abc123/output/tierline-dev-ft-Abc123/',
    });
    expect(s3Mock.commandCalls(HeadObjectCommand)[0]?.args[0].input).toEqual({
      Bucket: BUCKET,
      Key: adapterKey,
    });
  });

  it('fails the job, deploying nothing, when the output holds no adapter', async () => {
    await jobs.create(job({ status: 'running' }));
    s3Mock.on(ListObjectsV2Command).resolves({ KeyCount: 0 });
    await expect(
      handler({ task: 'deploy', jobId: 'ftjob-Abc123', modelArtifacts: artifacts }),
    ).rejects.toMatchObject({
      name: 'JobFailure',
      code: 'adapter_missing',
      message: expect.stringMatching(
        /tierline-dev-ft-Abc123\/, model artifacts .* holds no adapter\.tar\.gz/,
      ),
    });
    expect(sagemakerMock.commandCalls(CreateInferenceComponentCommand)).toHaveLength(0);
  });

  it('goes on when a retry finds the component already created', async () => {
    await jobs.create(job({ status: 'running' }));
    const architecture = config.models['qwen3-8b']?.architecture;
    if (!architecture) throw new Error('no architecture');
    await adapterInS3({ architecture, baseModel: 'qwen3-8b' });
    const exists = Object.assign(new Error('Cannot create already existing inference component'), {
      name: 'ValidationException',
    });
    sagemakerMock.on(CreateInferenceComponentCommand).rejects(exists);
    await expect(
      handler({ task: 'deploy', jobId: 'ftjob-Abc123', modelArtifacts: artifacts }),
    ).resolves.toMatchObject({
      componentName: 'tierline-dev-lora-Abc123',
    });
  });

  it('never deploys an adapter that does not fit the base model', async () => {
    await jobs.create(job({ status: 'running' }));
    const qwen = config.models['qwen3-32b']?.architecture;
    if (!qwen) throw new Error('no architecture');
    await adapterInS3({ architecture: qwen, baseModel: 'qwen3-8b' });
    await expect(
      handler({ task: 'deploy', jobId: 'ftjob-Abc123', modelArtifacts: artifacts }),
    ).rejects.toThrow(/cannot be served on qwen3-8b/);
    expect(sagemakerMock.commandCalls(CreateInferenceComponentCommand)).toHaveLength(0);
  });

  it('reports the component status for the wait loop (exact request)', async () => {
    sagemakerMock
      .on(DescribeInferenceComponentCommand)
      .resolves({ InferenceComponentStatus: 'Creating' });
    expect(
      await handler({ task: 'checkInService', componentName: 'tierline-dev-lora-Abc123' }),
    ).toEqual({
      status: 'Creating',
      failureReason: null,
    });
    expect(sagemakerMock.commandCalls(DescribeInferenceComponentCommand)[0]?.args[0].input).toEqual(
      {
        InferenceComponentName: 'tierline-dev-lora-Abc123',
      },
    );
  });

  it('succeeds the job with its ft: model once, even when the task runs twice', async () => {
    await jobs.create(job({ status: 'running', trainedTokens: 2_990 }));
    const first = await handler({ task: 'succeed', jobId: 'ftjob-Abc123' });
    const again = await handler({ task: 'succeed', jobId: 'ftjob-Abc123' });
    expect(first).toEqual({ fineTunedModel: 'ft:qwen3-8b:cus_a:support:Abc123' });
    expect(again).toEqual(first);
    expect(await jobs.get('ftjob-Abc123')).toMatchObject({
      status: 'succeeded',
      fineTunedModel: 'ft:qwen3-8b:cus_a:support:Abc123',
      finishedAt: Date.parse('2026-12-01T10:00:00Z') / 1000,
      trainedTokens: 2_990,
    });
    expect(
      (await jobs.events('ftjob-Abc123', 10)).events.filter((e) => e.id === 'ftevent-succeeded'),
    ).toHaveLength(1);
    // Written once even without a deploy record (the task ran twice): ready, owned by the job's
    // customer.
    expect(await models.listByOwner(everyProject('cus_a'))).toEqual([
      expect.objectContaining({ modelId: 'ft:qwen3-8b:cus_a:support:Abc123', status: 'ready' }),
    ]);
    expect(await models.listByOwner(everyProject('cus_b'))).toEqual([]);
  });

  it("records the job's project on its model, whichever task writes the record", async () => {
    const architecture = config.models['qwen3-8b']?.architecture;
    if (!architecture) throw new Error('no architecture');
    const modelId = 'ft:qwen3-8b:cus_a:support:Abc123';
    const team = { customerId: 'cus_a', projectId: 'proj_team' };
    const home = { customerId: 'cus_a', projectId: defaultProjectId('cus_a') };

    // Deploy writes it (with the artifact), succeed moves it to ready.
    await jobs.create(job({ status: 'running', projectId: 'proj_team' }));
    await adapterInS3({ architecture, baseModel: 'qwen3-8b' });
    sagemakerMock.on(CreateInferenceComponentCommand).resolves({});
    await handler({ task: 'deploy', jobId: 'ftjob-Abc123', modelArtifacts: artifacts });
    expect(await models.get(modelId)).toMatchObject({
      projectId: 'proj_team',
      status: 'deploying',
    });
    await handler({ task: 'succeed', jobId: 'ftjob-Abc123' });
    expect(await models.getOwned(team, modelId)).toMatchObject({ status: 'ready' });
    expect(await models.getOwned(home, modelId)).toBeUndefined();
    expect((await models.listByOwner(team)).map((m) => m.modelId)).toEqual([modelId]);
    expect(await models.listByOwner(home)).toEqual([]);

    // Succeed writes it (no deploy record: an older execution).
    await jobs.create(
      job({ jobId: 'ftjob-Def456', status: 'running', projectId: 'proj_team', suffix: 'other' }),
    );
    await handler({ task: 'succeed', jobId: 'ftjob-Def456' });
    expect(await models.get('ft:qwen3-8b:cus_a:other:Def456')).toMatchObject({
      projectId: 'proj_team',
      status: 'ready',
    });

    // A job made before jobs recorded a project: its model records none, and is the default project's.
    await jobs.create(job({ jobId: 'ftjob-Ghi789', status: 'running', suffix: 'legacy' }));
    await handler({ task: 'succeed', jobId: 'ftjob-Ghi789' });
    const legacy = await models.get('ft:qwen3-8b:cus_a:legacy:Ghi789');
    expect(legacy).toBeDefined();
    expect(legacy).not.toHaveProperty('projectId');
    expect(await models.getOwned(home, 'ft:qwen3-8b:cus_a:legacy:Ghi789')).toBeDefined();
    expect(await models.getOwned(team, 'ft:qwen3-8b:cus_a:legacy:Ghi789')).toBeUndefined();
  });

  it('moves the model deploy recorded to ready when the job succeeds, keeping its artifact', async () => {
    await jobs.create(job({ status: 'running' }));
    const architecture = config.models['qwen3-8b']?.architecture;
    if (!architecture) throw new Error('no architecture');
    await adapterInS3({ architecture, baseModel: 'qwen3-8b' });
    sagemakerMock.on(CreateInferenceComponentCommand).resolves({});
    await handler({ task: 'deploy', jobId: 'ftjob-Abc123', modelArtifacts: artifacts });
    await handler({ task: 'succeed', jobId: 'ftjob-Abc123' });
    expect(await models.get('ft:qwen3-8b:cus_a:support:Abc123')).toMatchObject({
      status: 'ready',
      artifactUrl: `${artifacts}adapter.tar.gz`,
    });
  });
});

describe('fail', () => {
  it("fails the job with the training job's reason and removes an adapter component it created", async () => {
    await jobs.create(job({ status: 'running' }));
    sagemakerMock.on(DeleteInferenceComponentCommand).resolves({});
    const cause = JSON.stringify({
      TrainingJobName: 'tierline-dev-ft-Abc123',
      FailureReason: 'AlgorithmError: line 2: not valid JSON',
    });
    await handler({
      task: 'fail',
      jobId: 'ftjob-Abc123',
      error: 'States.TaskFailed',
      cause,
      componentName: 'tierline-dev-lora-Abc123',
    });
    expect(sagemakerMock.commandCalls(DeleteInferenceComponentCommand)[0]?.args[0].input).toEqual({
      InferenceComponentName: 'tierline-dev-lora-Abc123',
    });
    expect(await jobs.get('ftjob-Abc123')).toMatchObject({
      status: 'failed',
      error: { code: 'job_failed', message: 'AlgorithmError: line 2: not valid JSON', param: null },
    });
  });

  it('fails the model that deploy recorded, so it is never served', async () => {
    await jobs.create(job({ status: 'running', adapterComponent: 'tierline-dev-lora-Abc123' }));
    await models.create({
      modelId: 'ft:qwen3-8b:cus_a:support:Abc123',
      modelKey: 'Abc123',
      customerId: 'cus_a',
      baseModel: 'qwen3-8b',
      componentName: 'tierline-dev-lora-Abc123',
      artifactUrl: 's3://b/k',
      source: { kind: 'job', jobId: 'ftjob-Abc123' },
      name: 'support',
      status: 'deploying',
      createdAt: 1,
    });
    sagemakerMock.on(DeleteInferenceComponentCommand).resolves({});
    await handler({
      task: 'fail',
      jobId: 'ftjob-Abc123',
      error: 'States.TaskFailed',
      cause: 'Failed: bad adapter',
      componentName: 'tierline-dev-lora-Abc123',
    });
    expect(await models.get('ft:qwen3-8b:cus_a:support:Abc123')).toMatchObject({
      status: 'failed',
      failureReason: 'Failed: bad adapter',
    });
  });

  it('leaves a cancelled job cancelled', async () => {
    await jobs.create(job({ status: 'cancelled' }));
    expect(await handler({ task: 'fail', jobId: 'ftjob-Abc123', error: 'States.Aborted' })).toEqual(
      {
        status: 'cancelled',
      },
    );
  });

  it('reads the reason from Step Functions causes', () => {
    expect(
      failureMessage('Error', JSON.stringify({ errorMessage: 'boom', errorType: 'JobFailure' })),
    ).toBe('boom');
    expect(failureMessage('States.Timeout', undefined)).toBe('States.Timeout');
    expect(failureMessage('x', 'plain text')).toBe('plain text');
  });
});
