import { ArnFormat, Duration, type RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { Rule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction as LambdaTarget } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { CfnFunction, Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { DefinitionBody, LogLevel, StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import {
  FINE_TUNING_BUCKET_ENV,
  FINE_TUNING_STATE_MACHINE_ENV,
  FINE_TUNING_TABLE,
  FINE_TUNING_TABLE_ENV,
} from '../../../lambda/fine-tuning/fine-tuning-table';
import {
  adapterComponentPrefix,
  stateMachineName,
  trainingJobPrefix,
} from '../../../lambda/fine-tuning/sagemaker-names';
import { endpointName } from '../../../lambda/inference/backends/sagemaker-names';
import type { TierlineConfig } from '../../config/schema';
import { acceptsVolumeKmsKey } from '../inference/instance-types';
import { TierlineFunction } from '../tierline-function';
import type { FineTuningStore } from './fine-tuning-store';
import { acknowledgeWildcards } from './nag-ids';
import { TrainingCode } from './training-code';
import { TrainingRole } from './training-role';
import { workflowDefinition } from './workflow-definition';

export interface FineTuningWorkflowProps {
  readonly config: TierlineConfig;
  readonly store: FineTuningStore;
  readonly logRetention: RetentionDays;
  readonly removalPolicy: RemovalPolicy;
}

/**
 * A fine-tuning job's life on Step Functions: prepare (base weights present), the SageMaker
 * training job (`.sync`: Step Functions waits, and stops the job when the execution is stopped),
 * deploy the adapter as an inference component on its base model's component, wait until it is in
 * service, succeed; any failure fails the job with its reason. EventBridge's training state changes
 * keep the job's status and events current meanwhile.
 */
export class FineTuningWorkflow extends Construct {
  public readonly stateMachine: StateMachine;
  public readonly tasksFunction: TierlineFunction;
  public readonly eventsFunction: TierlineFunction;
  public readonly trainingRole: TrainingRole;
  public readonly trainingCode: TrainingCode;
  public readonly stateChangeRule: Rule;
  public readonly eventsDeadLetters: Queue;

  constructor(scope: Construct, id: string, props: FineTuningWorkflowProps) {
    super(scope, id);
    const { config, store } = props;
    const env = config.environment.name;
    const training = config.fineTuning.training;

    this.trainingCode = new TrainingCode(this, 'TrainingCode');
    const externalWeights = Object.values(config.models)
      .filter((m) => m.trainingInstanceType && m.weights.startsWith('s3://'))
      .map((m) => {
        const [bucket = '', ...rest] = m.weights.replace(/^s3:\/\//, '').split('/');
        const prefix = rest.join('/');
        return { bucket, prefix: prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/` };
      });
    this.trainingRole = new TrainingRole(this, 'TrainingRole', {
      environmentName: env,
      bucketName: store.bucketName,
      key: store.encryptionKey,
      image: training.image,
      code: this.trainingCode.asset,
      externalWeights,
    });

    const common = { config, logRetention: props.logRetention, removalPolicy: props.removalPolicy };
    this.tasksFunction = new TierlineFunction(this, 'Tasks', {
      ...common,
      handlerFile: 'fine-tuning-workflow.ts',
      description:
        'Tierline fine-tuning: the state machine tasks (prepare, deploy, check, succeed, fail)',
      // Deploy streams a trained adapter's tar.gz through gunzip to check it (hundreds of MB at
      // most).
      memorySize: 1024,
      timeout: Duration.minutes(5),
    });
    this.eventsFunction = new TierlineFunction(this, 'Events', {
      ...common,
      handlerFile: 'fine-tuning-events.ts',
      description:
        'Tierline fine-tuning: SageMaker training job state changes into job status and events',
    });
    for (const fn of [this.tasksFunction, this.eventsFunction]) {
      fn.function.addEnvironment(FINE_TUNING_TABLE_ENV, store.table.tableName);
      fn.function.addEnvironment(FINE_TUNING_BUCKET_ENV, store.bucketName);
      fn.function.addToRolePolicy(
        new PolicyStatement({
          actions: [
            'dynamodb:GetItem',
            'dynamodb:PutItem',
            'dynamodb:UpdateItem',
            'dynamodb:Query',
          ],
          resources: [store.table.tableArn],
        }),
      );
      fn.function.addToRolePolicy(
        new PolicyStatement({
          actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'],
          resources: [store.encryptionKey.keyArn],
        }),
      );
    }
    this.grantTasks(this.tasksFunction, config, store, externalWeights);

    this.stateMachine = this.trainingStateMachine(props);

    this.eventsDeadLetters = new Queue(this, 'EventsDeadLetters', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    const deadLettersReason =
      'This queue is itself the dead-letter destination of the training state-change rule target and of the ' +
      'events function; an operator replays what it holds, so a dead-letter queue of its own would hold nothing.';
    Validations.of(this.eventsDeadLetters).acknowledge({
      id: 'AwsSolutions::AwsSolutions-SQS3',
      reason: deadLettersReason,
    });
    Validations.of(this.eventsDeadLetters).acknowledge({
      id: 'Serverless::Serverless-SQSRedrivePolicy',
      reason: deadLettersReason,
    });
    // EventBridge invokes the function asynchronously: its target DLQ catches events it could not
    // deliver, and the function's own DLQ (an escape hatch: TierlineFunction has no prop for it)
    // those that kept failing.
    (this.eventsFunction.function.node.defaultChild as CfnFunction).deadLetterConfig = {
      targetArn: this.eventsDeadLetters.queueArn,
    };
    this.eventsDeadLetters.grantSendMessages(this.eventsFunction.function);
    Validations.of(this.tasksFunction.function).acknowledge({
      id: 'Serverless::Serverless-LambdaDLQ',
      reason:
        'Invoked synchronously by Step Functions, which retries it and catches its failures; a DLQ applies to asynchronous invocations only.',
    });
    this.stateChangeRule = new Rule(this, 'TrainingStateChange', {
      description: 'Tierline fine-tuning: training job state changes of this environment',
      eventPattern: {
        source: ['aws.sagemaker'],
        detailType: ['SageMaker Training Job State Change'],
        detail: { TrainingJobName: [{ prefix: trainingJobPrefix(env) }] },
      },
      targets: [
        new LambdaTarget(this.eventsFunction.function, {
          deadLetterQueue: this.eventsDeadLetters,
          retryAttempts: 8,
          maxEventAge: Duration.hours(24),
        }),
      ],
    });
  }

  /** The state machine that prepares, trains, deploys and bills a job, logged and traced. */
  private trainingStateMachine(props: FineTuningWorkflowProps): StateMachine {
    const { config, store } = props;
    const env = config.environment.name;
    const stack = Stack.of(this);
    const training = config.fineTuning.training;
    const logs = new LogGroup(this, 'StateMachineLogs', {
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });
    const role = new Role(this, 'StateMachineRole', {
      assumedBy: new ServicePrincipal('states.amazonaws.com'),
    });
    const encryptedVolumeTypes = [
      ...new Set(
        Object.values(config.models).flatMap((m) =>
          m.trainingInstanceType ? [m.trainingInstanceType] : [],
        ),
      ),
    ].filter(acceptsVolumeKmsKey);
    const stateMachine = new StateMachine(this, 'StateMachine', {
      stateMachineName: stateMachineName(env),
      role,
      definitionBody: DefinitionBody.fromString(
        stack.toJsonString(
          workflowDefinition({
            tasksFunctionArn: this.tasksFunction.function.functionArn,
            trainingRoleArn: this.trainingRole.role.roleArn,
            image: training.image.replace('${AWS::Region}', stack.region),
            keyArn: store.encryptionKey.keyArn,
            encryptedVolumeTypes,
            volumeSizeGb: training.volumeSizeGb,
            maxRuntimeSeconds: training.maxRuntimeSeconds,
            spotMaxWaitSeconds: training.spot.enabled ? training.spot.maxWaitSeconds : undefined,
            codeUri: this.trainingCode.asset.s3ObjectUrl,
            codeContainerPath: this.trainingCode.containerPath,
            environmentName: env,
          }),
        ),
      ),
      logs: { destination: logs, level: LogLevel.ALL, includeExecutionData: true },
      tracingEnabled: true,
    });
    this.grantStateMachine(role, config);
    return stateMachine;
  }

  /**
   * The jobs API (the API function): jobs and events in the table, training inputs written to
   * `jobs/<job>/input/` and checkpoints read from `jobs/<job>/checkpoints/` of the bucket,
   * executions of this state machine started (named after the job) and stopped, and this
   * environment's training jobs stopped.
   */
  public grantJobsApi(fn: LambdaFunction, config: TierlineConfig, store: FineTuningStore): void {
    const stack = Stack.of(this);
    const env = config.environment.name;
    fn.addEnvironment(FINE_TUNING_TABLE_ENV, store.table.tableName);
    fn.addEnvironment(FINE_TUNING_BUCKET_ENV, store.bucketName);
    fn.addEnvironment(FINE_TUNING_STATE_MACHINE_ENV, this.stateMachine.stateMachineArn);
    const bucketArn = stack.formatArn({
      service: 's3',
      region: '',
      account: '',
      resource: store.bucketName,
    });
    const inputs = `${bucketArn}/jobs/*/input/*`;
    const checkpoints = `${bucketArn}/jobs/*/checkpoints/*`;
    const executions = stack.formatArn({
      service: 'states',
      resource: 'execution',
      resourceName: `${stateMachineName(env)}:*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    const trainingJobs = stack.formatArn({
      service: 'sagemaker',
      resource: 'training-job',
      resourceName: `${trainingJobPrefix(env)}*`,
    });
    const statements = [
      new PolicyStatement({
        actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query'],
        resources: [
          store.table.tableArn,
          `${store.table.tableArn}/index/${FINE_TUNING_TABLE.byOwnerIndex.name}`,
        ],
      }),
      new PolicyStatement({
        actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'],
        resources: [store.encryptionKey.keyArn],
      }),
      new PolicyStatement({ actions: ['s3:PutObject'], resources: [inputs] }),
      new PolicyStatement({ actions: ['s3:GetObject'], resources: [checkpoints] }),
      new PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [bucketArn],
        conditions: { StringLike: { 's3:prefix': ['jobs/*/checkpoints/*'] } },
      }),
      new PolicyStatement({
        actions: ['states:StartExecution'],
        resources: [this.stateMachine.stateMachineArn],
      }),
      new PolicyStatement({ actions: ['states:StopExecution'], resources: [executions] }),
      new PolicyStatement({ actions: ['sagemaker:StopTrainingJob'], resources: [trainingJobs] }),
    ];
    for (const statement of statements) fn.addToRolePolicy(statement);
    if (fn.role) {
      acknowledgeWildcards(
        fn.role,
        [
          inputs,
          checkpoints,
          executions,
          trainingJobs,
          `${store.table.tableArn}/index/${FINE_TUNING_TABLE.byOwnerIndex.name}`,
        ],
        'Per-job resources the jobs API creates or stops: inputs under jobs/<job>/input/ and checkpoints under ' +
          'jobs/<job>/checkpoints/ of the fine-tuning bucket, executions of this state machine (named after the ' +
          'job), training jobs of this environment (tierline-<env>-ft-*).',
      );
    }
  }

  /** The tasks read trained adapters, check base weights, and manage this environment's adapter components. */
  private grantTasks(
    fn: TierlineFunction,
    config: TierlineConfig,
    store: FineTuningStore,
    externalWeights: { bucket: string; prefix: string }[],
  ): void {
    const stack = Stack.of(this);
    const env = config.environment.name;
    const bucketArn = (bucket: string) =>
      stack.formatArn({ service: 's3', region: '', account: '', resource: bucket });
    const objects = (bucket: string, prefix: string) => `${bucketArn(bucket)}/${prefix}`;
    fn.function.addToRolePolicy(
      new PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [objects(store.bucketName, 'jobs/*/output/*')],
      }),
    );
    fn.function.addToRolePolicy(
      new PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [
          bucketArn(store.bucketName),
          ...externalWeights.map((w) => bucketArn(w.bucket)),
        ],
        // base-models/*: prepare checks the weights are there; jobs/*/output/*: deploy finds the
        // trained adapter.
        conditions: {
          StringLike: {
            's3:prefix': [
              'base-models/*',
              'jobs/*/output/*',
              ...externalWeights.map((w) => `${w.prefix}*`),
            ],
          },
        },
      }),
    );
    const adapterModels = Object.entries(config.models).filter(([, m]) => m.architecture);
    const adapterComponents = stack.formatArn({
      service: 'sagemaker',
      resource: 'inference-component',
      resourceName: `${adapterComponentPrefix(env)}*`,
    });
    fn.function.addToRolePolicy(
      new PolicyStatement({
        actions: [
          'sagemaker:CreateInferenceComponent',
          'sagemaker:DescribeInferenceComponent',
          'sagemaker:DeleteInferenceComponent',
          'sagemaker:AddTags',
        ],
        resources: [
          stack.formatArn({
            service: 'sagemaker',
            resource: 'inference-component',
            resourceName: `${adapterComponentPrefix(env)}*`,
          }),
          // An adapter component is created on its base model's endpoint.
          ...adapterModels.map(([id]) =>
            stack.formatArn({
              service: 'sagemaker',
              resource: 'endpoint',
              resourceName: endpointName(env, id).toLowerCase(),
            }),
          ),
        ],
      }),
    );
    acknowledgeWildcards(
      fn.role,
      [objects(store.bucketName, 'jobs/*/output/*'), adapterComponents],
      'Per-job and per-adapter resources: trained adapters under jobs/<job>/output/ of the fine-tuning bucket, ' +
        "and this environment's adapter components (tierline-<env>-lora-*), which the workflow creates.",
    );
  }

  /** Runs the training job (.sync), invokes the tasks, passes only the training role. */
  private grantStateMachine(role: Role, config: TierlineConfig): void {
    const stack = Stack.of(this);
    const env = config.environment.name;
    this.tasksFunction.function.grantInvoke(role);
    const trainingJobs = stack.formatArn({
      service: 'sagemaker',
      resource: 'training-job',
      resourceName: `${trainingJobPrefix(env)}*`,
    });
    const instanceTypes = [
      ...new Set(
        Object.values(config.models).flatMap((m) =>
          m.trainingInstanceType ? [m.trainingInstanceType] : [],
        ),
      ),
    ];
    role.addToPolicy(
      new PolicyStatement({
        actions: ['sagemaker:CreateTrainingJob'],
        resources: [trainingJobs],
        // Whatever the input, a job this role starts is network isolated on a configured instance
        // type.
        conditions: {
          Bool: { 'sagemaker:NetworkIsolation': 'true' },
          'ForAllValues:StringEquals': { 'sagemaker:InstanceTypes': instanceTypes },
        },
      }),
    );
    role.addToPolicy(
      new PolicyStatement({
        actions: [
          'sagemaker:DescribeTrainingJob',
          'sagemaker:StopTrainingJob',
          'sagemaker:AddTags',
        ],
        resources: [trainingJobs],
      }),
    );
    role.addToPolicy(
      new PolicyStatement({
        // createTrainingJob.sync reads the job's tags (Step Functions tags the jobs it starts and
        // checks the tag before it stops one). AWS's documented policy for the task grants ListTags
        // on "*" ("IAM policies for Amazon SageMaker", Step Functions developer guide,
        // CreateTrainingJob, Run a Job (.sync)), and CDK's SageMakerCreateTrainingJob does the
        // same: it reads tags only, and the resource it reads them from is not documented, so it is
        // not narrowed here. Named, so CDK does not merge it into the log and trace grants.
        sid: 'ReadTrainingJobTags',
        actions: ['sagemaker:ListTags'],
        resources: ['*'],
      }),
    );
    role.addToPolicy(
      new PolicyStatement({
        actions: ['iam:PassRole'],
        resources: [this.trainingRole.role.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'sagemaker.amazonaws.com' } },
      }),
    );
    role.addToPolicy(
      new PolicyStatement({
        // The .sync integration watches the job through a rule Step Functions manages (AWS's
        // documented policy).
        actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
        resources: [
          stack.formatArn({
            service: 'events',
            resource: 'rule',
            resourceName: 'StepFunctionsGetEventsForSageMakerTrainingJobsRule',
          }),
        ],
      }),
    );
    acknowledgeWildcards(
      role,
      [trainingJobs],
      'Training jobs of this environment only (tierline-<env>-ft-*), created network isolated by condition.',
    );
    acknowledgeWildcards(
      role,
      [`${this.tasksFunction.function.functionArn}:*`],
      'Versions of the tasks function (grantInvoke).',
    );
    acknowledgeWildcards(
      role,
      ['*'],
      'X-Ray tracing and log delivery of the state machine support no resource-level permissions; ' +
        "sagemaker:ListTags on * is AWS's documented policy for createTrainingJob.sync (reads tags only).",
    );
  }
}
