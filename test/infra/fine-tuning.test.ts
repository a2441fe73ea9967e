import { Match, type Template } from 'aws-cdk-lib/assertions';
import { trainingJobPrefix } from '../../lambda/fine-tuning/sagemaker-names';
import { TRAINING_DIR, trainingFiles } from '../../lib/constructs/fine-tuning/training-code';
import { workflowDefinition } from '../../lib/constructs/fine-tuning/workflow-definition';
import { roleStatements, synthesize } from '../support/synth';

const { api, data, stacks, config } = synthesize({ env: 'dev' });
const env = config.environment.name;
const workflow = stacks.api.fineTuning;
const logicalId = (construct: { node: { defaultChild?: unknown } }) =>
  stacks.api.getLogicalId(construct.node.defaultChild as never);

/** The state machine's definition with every token shown as `<TOKEN>`. */
function definition(template: Template) {
  const [machine] = Object.values(template.findResources('AWS::StepFunctions::StateMachine'));
  const parts = machine?.Properties.DefinitionString['Fn::Join'][1] as unknown[];
  return JSON.parse(parts.map((p) => (typeof p === 'string' ? p : '<TOKEN>')).join(''));
}

const actionsOf = (s: { Action: string | string[] }) =>
  Array.isArray(s.Action) ? s.Action : [s.Action];

describe('fine-tuning data', () => {
  it('keeps jobs in an encrypted table and artifacts in an encrypted, versioned, logged, TLS-only bucket', () => {
    data.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: {
        'Fn::Join': [
          '',
          [`tierline-${env}-lora-`, { Ref: 'AWS::AccountId' }, '-', { Ref: 'AWS::Region' }],
        ],
      },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          Match.objectLike({
            BucketKeyEnabled: true,
            ServerSideEncryptionByDefault: Match.objectLike({ SSEAlgorithm: 'aws:kms' }),
          }),
        ],
      },
      VersioningConfiguration: { Status: 'Enabled' },
      LoggingConfiguration: Match.objectLike({ LogFilePrefix: 'lora/' }),
      PublicAccessBlockConfiguration: Match.objectLike({
        BlockPublicAcls: true,
        RestrictPublicBuckets: true,
      }),
    });
    data.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: [Match.objectLike({ IndexName: 'byOwner' })],
      SSESpecification: Match.objectLike({ SSEEnabled: true, SSEType: 'KMS' }),
    });
  });
});

describe('the fine-tuning state machine', () => {
  const asl = definition(api);
  const train = asl.States.Train;

  it('validates, trains, deploys the adapter, waits until it is in service, and fails the job on any error', () => {
    expect(asl.QueryLanguage).toBe('JSONata');
    expect(asl.StartAt).toBe('Prepare');
    expect(asl.States.Prepare.Next).toBe('Train');
    expect(train.Next).toBe('Deploy');
    expect(asl.States.Deploy.Next).toBe('WaitForAdapter');
    expect(asl.States.WaitForAdapter).toEqual({ Type: 'Wait', Seconds: 30, Next: 'CheckAdapter' });
    expect(asl.States.AdapterInService.Choices.map((c: { Next: string }) => c.Next)).toEqual([
      'Succeed',
      'RecordFailure',
    ]);
    expect(asl.States.AdapterInService.Default).toBe('WaitForAdapter');
    for (const state of ['Prepare', 'Train', 'Deploy', 'CheckAdapter', 'Succeed']) {
      expect(asl.States[state].Catch).toEqual([
        expect.objectContaining({ ErrorEquals: ['States.ALL'], Next: 'RecordFailure' }),
      ]);
    }
    expect(asl.States.RecordFailure.Next).toBe('Failed');
    expect(asl.States.Failed.Type).toBe('Fail');
  });

  it('runs the training job network isolated, KMS-encrypted, bounded in time, with checkpoints and uncompressed output', () => {
    expect(train.Resource).toBe('arn:aws:states:::sagemaker:createTrainingJob.sync');
    expect(train.Arguments).toMatchObject({
      RoleArn: '<TOKEN>',
      EnableNetworkIsolation: true,
      EnableInterContainerTrafficEncryption: true,
      StoppingCondition: {
        MaxRuntimeInSeconds: config.fineTuning.training.maxRuntimeSeconds,
        MaxWaitTimeInSeconds: config.fineTuning.training.spot.maxWaitSeconds,
      },
      // Managed spot by default: an interrupted job restarts and resumes from the checkpoints
      // below.
      EnableManagedSpotTraining: true,
      OutputDataConfig: {
        S3OutputPath: '{% $states.input.training.outputUri %}',
        KmsKeyId: '<TOKEN>',
        CompressionType: 'NONE',
      },
      CheckpointConfig: {
        S3Uri: '{% $states.input.training.checkpointUri %}',
        LocalPath: '/opt/ml/checkpoints',
      },
    });
    expect(train.Arguments.AlgorithmSpecification.TrainingImage).toBe(
      config.fineTuning.training.image.replace('${AWS::Region}', '<TOKEN>'),
    );
    expect(
      train.Arguments.AlgorithmSpecification.MetricDefinitions.map((m: { Name: string }) => m.Name),
    ).toEqual(expect.arrayContaining(['train_loss', 'valid_loss', 'trained_tokens']));
    expect(train.Arguments.HyperParameters).toContain("'sagemaker_program': 'train.py'");
    for (const name of ['model', 'training', 'code', 'validation']) {
      expect(train.Arguments.InputDataConfig).toContain(`'ChannelName': '${name}'`);
    }
  });

  it('runs on demand, with no wait time, when spot training is off', () => {
    const props = {
      tasksFunctionArn: 'fn',
      trainingRoleArn: 'role',
      image: 'image',
      keyArn: 'arn:key',
      encryptedVolumeTypes: [],
      volumeSizeGb: 100,
      maxRuntimeSeconds: 3600,
      codeUri: 's3://code',
      codeContainerPath: '/opt/ml/input/data/code/x.gz',
      environmentName: 'dev',
    };
    const onDemand = workflowDefinition(props).States.Train.Arguments;
    expect(onDemand.StoppingCondition).toEqual({ MaxRuntimeInSeconds: 3600 });
    expect(onDemand.EnableManagedSpotTraining).toBeUndefined();
    const spot = workflowDefinition({ ...props, spotMaxWaitSeconds: 7200 }).States.Train.Arguments;
    expect(spot.StoppingCondition).toEqual({
      MaxRuntimeInSeconds: 3600,
      MaxWaitTimeInSeconds: 7200,
    });
    expect(spot.EnableManagedSpotTraining).toBe(true);
  });

  it('puts the KMS key on the volume only for instance types that accept one', () => {
    const props = {
      tasksFunctionArn: 'fn',
      trainingRoleArn: 'role',
      image: 'image',
      keyArn: 'arn:key',
      volumeSizeGb: 100,
      maxRuntimeSeconds: 3600,
      codeUri: 's3://code',
      codeContainerPath: '/opt/ml/input/data/code/x.gz',
      environmentName: 'dev',
    };
    const withKey = workflowDefinition({ ...props, encryptedVolumeTypes: ['ml.p3.2xlarge'] }).States
      .Train.Arguments;
    expect(withKey.ResourceConfig).toContain(
      "$states.input.training.instanceType in ['ml.p3.2xlarge'] ? {'VolumeKmsKeyId': 'arn:key'}",
    );
    const nvmeOnly = workflowDefinition({ ...props, encryptedVolumeTypes: [] }).States.Train
      .Arguments;
    expect(nvmeOnly.ResourceConfig).not.toContain('VolumeKmsKeyId');
  });

  it('logs every execution and traces it', () => {
    api.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineName: `tierline-${env}-fine-tuning`,
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: Match.objectLike({ Level: 'ALL', IncludeExecutionData: true }),
    });
  });

  it('may start only network-isolated training jobs of this environment and pass only the training role', () => {
    const statements = roleStatements(api, logicalId(workflow.stateMachine.role as never));
    const create = statements.find((s) => actionsOf(s).includes('sagemaker:CreateTrainingJob'));
    expect(JSON.stringify(create?.Resource)).toContain(`:training-job/${trainingJobPrefix(env)}*`);
    expect(create?.Condition).toEqual({
      Bool: { 'sagemaker:NetworkIsolation': 'true' },
      'ForAllValues:StringEquals': { 'sagemaker:InstanceTypes': ['ml.g6e.2xlarge'] },
    });
    // createTrainingJob.sync reads the job's tags: AWS's documented policy for the task grants
    // ListTags.
    const listTags = statements.find((s) => actionsOf(s).includes('sagemaker:ListTags'));
    expect(listTags).toMatchObject({ Resource: '*' });
    expect(actionsOf(listTags ?? { Action: [] })).toEqual(['sagemaker:ListTags']);
    const pass = statements.find((s) => actionsOf(s).includes('iam:PassRole'));
    expect(pass).toMatchObject({
      Resource: { 'Fn::GetAtt': [logicalId(workflow.trainingRole.role), 'Arn'] },
      Condition: { StringEquals: { 'iam:PassedToService': 'sagemaker.amazonaws.com' } },
    });
  });
});

describe('the training role', () => {
  const statements = roleStatements(api, logicalId(workflow.trainingRole.role));
  const byAction = (action: string) => statements.filter((s) => actionsOf(s).includes(action));

  it('reads only job inputs, checkpoints, base weights and the code', () => {
    const reads = JSON.stringify(byAction('s3:GetObject').map((s) => s.Resource));
    for (const prefix of ['/jobs/*/input/*', '/base-models/*', '/jobs/*/checkpoints/*'])
      expect(reads).toContain(prefix);
    expect(reads).not.toContain('/jobs/*/output/*');
    expect(reads).toContain('.gz'); // the one code object, not the whole assets bucket
  });

  it('may list the code asset (an S3Prefix channel) and nothing else of the assets bucket', () => {
    const asset = workflow.trainingCode.asset;
    const listCode = byAction('s3:ListBucket').find((s) =>
      JSON.stringify(s.Resource).includes('cdk-'),
    );
    expect(stacks.api.resolve(listCode?.Resource)).toEqual(
      stacks.api.resolve(`arn:${stacks.api.partition}:s3:::${asset.s3BucketName}`),
    );
    expect(listCode?.Condition).toEqual({ StringLike: { 's3:prefix': [asset.s3ObjectKey] } });
  });

  it('writes only job outputs and checkpoints', () => {
    const writes = byAction('s3:PutObject');
    expect(writes).toHaveLength(1);
    const resources = JSON.stringify(writes[0]?.Resource);
    expect(resources).toContain('/jobs/*/output/*');
    expect(resources).toContain('/jobs/*/checkpoints/*');
    expect(writes[0]?.Resource).toHaveLength(2);
  });

  it('has no wildcard actions and no managed policies', () => {
    expect(statements.flatMap(actionsOf).filter((a) => a.endsWith('*'))).toEqual([]);
    api.hasResourceProperties('AWS::IAM::Role', {
      Description: 'Tierline: SageMaker execution role of the LoRA training jobs',
      ManagedPolicyArns: Match.absent(),
    });
  });

  it('pulls only the configured training image', () => {
    const pull = byAction('ecr:BatchGetImage')[0];
    expect(pull?.Resource).toEqual({
      'Fn::Sub':
        'arn:${AWS::Partition}:ecr:${AWS::Region}:763104351884:repository/huggingface-pytorch-training',
    });
  });
});

describe('training job state changes', () => {
  it('are routed from EventBridge to the events function, with retries and a dead-letter queue', () => {
    api.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.sagemaker'],
        'detail-type': ['SageMaker Training Job State Change'],
        detail: { TrainingJobName: [{ prefix: trainingJobPrefix(env) }] },
      },
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [logicalId(workflow.eventsFunction.function as never), 'Arn'] },
          RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 86_400 },
          DeadLetterConfig: {
            Arn: { 'Fn::GetAtt': [logicalId(workflow.eventsDeadLetters as never), 'Arn'] },
          },
        }),
      ],
    });
    api.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('SageMaker training job state changes'),
      DeadLetterConfig: {
        TargetArn: { 'Fn::GetAtt': [logicalId(workflow.eventsDeadLetters as never), 'Arn'] },
      },
    });
  });

  it('lets the tasks function manage only adapter components of this environment', () => {
    const statements = roleStatements(api, logicalId(workflow.tasksFunction.role));
    const sagemaker = statements.find((s) =>
      actionsOf(s).includes('sagemaker:CreateInferenceComponent'),
    );
    expect(actionsOf(sagemaker ?? { Action: [] }).sort()).toEqual(
      [
        'sagemaker:AddTags',
        'sagemaker:CreateInferenceComponent',
        'sagemaker:DeleteInferenceComponent',
        'sagemaker:DescribeInferenceComponent',
      ].sort(),
    );
    expect(JSON.stringify(sagemaker?.Resource)).toContain(
      `inference-component/tierline-${env}-lora-*`,
    );
  });

  it('lets the tasks function list base weights and job outputs (deploy finds the trained adapter there), nothing else', () => {
    const statements = roleStatements(api, logicalId(workflow.tasksFunction.role));
    const list = statements.filter((s) => actionsOf(s).includes('s3:ListBucket'));
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({
      Condition: { StringLike: { 's3:prefix': ['base-models/*', 'jobs/*/output/*'] } },
    });
  });
});

describe('the jobs API (the API function)', () => {
  const apiFunction = stacks.api.api.apiFunction;
  const statements = () => roleStatements(api, logicalId(apiFunction.role));
  const withAction = (action: string) => statements().filter((s) => actionsOf(s).includes(action));

  it('gets the table, bucket and state machine by environment variable', () => {
    api.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'Tierline: the OpenAI-compatible API',
      Environment: {
        Variables: Match.objectLike({
          FINE_TUNING_TABLE_NAME: Match.anyValue(),
          FINE_TUNING_BUCKET_NAME: {
            'Fn::Join': [
              '',
              [`tierline-${env}-lora-`, { Ref: 'AWS::AccountId' }, '-', { Ref: 'AWS::Region' }],
            ],
          },
          FINE_TUNING_STATE_MACHINE_ARN: { Ref: logicalId(workflow.stateMachine as never) },
        }),
      },
    });
  });

  it('starts executions of this state machine only, and stops only its executions and this environment’s training jobs', () => {
    expect(withAction('states:StartExecution')).toEqual([
      {
        Effect: 'Allow',
        Action: 'states:StartExecution',
        Resource: { Ref: logicalId(workflow.stateMachine as never) },
      },
    ]);
    const [stop] = withAction('states:StopExecution');
    expect(actionsOf(stop ?? { Action: [] })).toEqual(['states:StopExecution']);
    expect(JSON.stringify(stop?.Resource)).toContain(`:execution:tierline-${env}-fine-tuning:*`);
    const [stopTraining] = withAction('sagemaker:StopTrainingJob');
    expect(actionsOf(stopTraining ?? { Action: [] })).toEqual(['sagemaker:StopTrainingJob']);
    expect(JSON.stringify(stopTraining?.Resource)).toContain(
      `training-job/${trainingJobPrefix(env)}*`,
    );
  });

  it('writes only job inputs and uploaded adapters, and reads only checkpoints, in the fine-tuning bucket', () => {
    const lora = (s: { Resource: unknown }) =>
      JSON.stringify(s.Resource).includes(`tierline-${env}-lora-`);
    expect(
      withAction('s3:PutObject')
        .filter(lora)
        .map((s) => JSON.stringify(s.Resource))
        .sort(),
    ).toEqual([expect.stringContaining('/adapters/*'), expect.stringContaining('/jobs/*/input/*')]);
    expect(
      withAction('s3:GetObject')
        .filter(lora)
        .map((s) => JSON.stringify(s.Resource)),
    ).toEqual([expect.stringContaining('/jobs/*/checkpoints/*')]);
    expect(withAction('s3:ListBucket').filter(lora)).toEqual([
      expect.objectContaining({
        Condition: { StringLike: { 's3:prefix': ['jobs/*/checkpoints/*'] } },
      }),
    ]);
  });

  it('lets the tasks function bill a job through the metering table and the ledger dead letters', () => {
    api.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('state machine tasks'),
      Environment: {
        Variables: Match.objectLike({
          METERING_TABLE_NAME: Match.anyValue(),
          LEDGER_DEAD_LETTER_QUEUE_URL: Match.anyValue(),
        }),
      },
    });
  });
});

describe('the training code package', () => {
  it('holds train.py and the tierline_lora package, not the tests', () => {
    const files = trainingFiles(TRAINING_DIR);
    expect(files).toContain('train.py');
    expect(files).toContain('tierline_lora/metrics.json');
    expect(files.some((f) => f.startsWith('tests/') || f.includes('__pycache__'))).toBe(false);
  });
});
