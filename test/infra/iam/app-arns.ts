import type { IConstruct } from 'constructs';
import {
  endpointName,
  speechComponentNames,
} from '../../../lambda/inference/backends/sagemaker-names';
import { s3Weights } from '../../../lib/constructs/inference/lmi-container';
import type { SynthesizedApp } from '../../support/synth';
import { ACCOUNT, PARTITION, REGION, type ResolvedApp } from './resolved-app';
import type {
  Arns,
  BucketName,
  FunctionName,
  QueueName,
  RolePrincipal,
  TableName,
} from './runtime-calls';

const arn = (service: string, rest: string) =>
  `arn:${PARTITION}:${service}:${REGION}:${ACCOUNT}:${rest}`;

/** The concrete ARNs of one synthesized app, found through its constructs (never through hashed logical ids). */
export function appArns(
  synthesized: SynthesizedApp,
  resolved: ResolvedApp,
): Arns & {
  roleArn(principal: RolePrincipal): string;
} {
  const { stacks, config } = synthesized;
  const { data, api, inference } = stacks;
  const env = config.environment.name;
  const attr = (construct: IConstruct, attribute: string) => {
    const { stack, logicalId } = resolved.locate(construct);
    return resolved.attr(stack, logicalId, attribute);
  };
  const ref = (construct: IConstruct) => {
    const { stack, logicalId } = resolved.locate(construct);
    return resolved.ref(stack, logicalId);
  };
  const child = (scope: IConstruct, ...path: string[]) =>
    path.reduce((node, id) => {
      const found = node.node.tryFindChild(id);
      if (!found) throw new Error(`${node.node.path} has no child ${id}`);
      return found;
    }, scope);

  const tables = {
    customers: data.customers.table,
    metering: data.metering.table,
    files: data.files.table,
    fineTuning: data.fineTuning.table,
  } satisfies Record<TableName, IConstruct>;
  const functions = {
    authorizer: api.api.authorizerFunction,
    api: api.api.apiFunction,
    chat: api.api.chatFunction,
    batchWorker: api.batches.worker,
    aggregator: api.usageMetering.aggregator,
    reconciler: api.usageMetering.reconciler,
    billingSender: api.billing.sender,
    billingWebhook: api.billing.webhook,
    fineTuningTasks: api.fineTuning.tasksFunction,
    fineTuningEvents: api.fineTuning.eventsFunction,
  } satisfies Record<FunctionName, unknown>;
  const queues = {
    batches: api.batches.queue,
    batchesDeadLetters: api.batches.deadLetters,
    ledgerDeadLetters: data.ledgerDeadLetters.queue,
    meteringFailures: child(api.usageMetering, 'Failures'),
    eventsDeadLetters: api.fineTuning.eventsDeadLetters,
  } satisfies Record<QueueName, IConstruct>;
  const rules = {
    reconcileSchedule: child(api.usageMetering, 'ReconcileSchedule'),
    spendAlerts: child(api.usageMetering, 'SpendAlerts'),
    trainingStateChange: api.fineTuning.stateChangeRule,
    batchesExpirySweep: api.batches.expirySweep,
    billingSchedule: child(api.billing, 'Schedule'),
  };
  const bucketName = (name: BucketName): string => {
    switch (name) {
      case 'files':
        return ref(data.files.bucket);
      case 'fineTuning':
        return ref(data.fineTuning.bucket);
      case 'console':
        return ref(api.console.bucket);
      case 'assets':
        return String(
          resolved.resolve(
            api.stackName,
            api.resolve(api.fineTuning.trainingCode.asset.s3BucketName),
          ),
        );
    }
  };
  const roles: Record<RolePrincipal, IConstruct> = {
    ...Object.fromEntries(Object.entries(functions).map(([name, fn]) => [name, fn.role])),
    stateMachine: api.fineTuning.stateMachine.role,
    training: api.fineTuning.trainingRole.role,
    inference: inference.role.role,
    ...(api.api.chatCapacity
      ? { vpcFlowLogs: child(api.api.chatCapacity.vpc, 'rejected', 'IAMRole') }
      : {}),
  } as unknown as Record<RolePrincipal, IConstruct>;

  return {
    config,
    environment: env,
    table: (name) => attr(tables[name], 'Arn'),
    index: (name, index) => `${attr(tables[name], 'Arn')}/index/${index}`,
    stream: (name) => attr(tables[name], 'StreamArn'),
    bucket: (name) => `arn:${PARTITION}:s3:::${bucketName(name)}`,
    object: (name, key) => `arn:${PARTITION}:s3:::${bucketName(name)}/${key}`,
    trainingCodeKey: api.fineTuning.trainingCode.asset.s3ObjectKey,
    queue: (name) => attr(queues[name], 'Arn'),
    notificationsTopic: ref(api.usageMetering.notifications),
    defaultEventBus: arn('events', 'event-bus/default'),
    function: (name) => attr(functions[name].function, 'Arn'),
    logGroup: (name) => attr(functions[name].logGroup, 'Arn'),
    stateMachine: ref(api.fineTuning.stateMachine),
    execution: (name) =>
      arn(
        'states',
        `execution:${resolved.attr(...locateArgs(resolved, api.fineTuning.stateMachine), 'Name')}:${name}`,
      ),
    rule: (name) => attr(rules[name], 'Arn'),
    stripeSecret: ref(api.billing.stripeSecret),
    stripeSecretKey: attr(child(api.billing, 'StripeSecretKey'), 'Arn'),
    distribution: arn('cloudfront', `distribution/${ref(api.console.distribution)}`).replace(
      `:${REGION}:`,
      '::',
    ),
    stepFunctionsTrainingRule: arn(
      'events',
      'rule/StepFunctionsGetEventsForSageMakerTrainingJobsRule',
    ),
    trainingRole: attr(api.fineTuning.trainingRole.role, 'Arn'),
    trainingJob: (name) => arn('sagemaker', `training-job/${name}`),
    adapterModels: Object.entries(config.models)
      .filter(([, m]) => m.architecture)
      .map(([id]) => id),
    models: Object.keys(config.models),
    speechModels: Object.keys(config.speechModels),
    speechComponents: Object.entries(config.speechModels).flatMap(([id, model]) =>
      speechComponentNames(env, id, model.translates),
    ),
    endpoint: (modelId) => arn('sagemaker', `endpoint/${endpointName(env, modelId).toLowerCase()}`),
    inferenceComponent: (name) => arn('sagemaker', `inference-component/${name.toLowerCase()}`),
    repository: (image) => {
      const match =
        /^(\d{12}|\$\{AWS::AccountId\})\.dkr\.ecr\.([^./]+)\.amazonaws\.com(?:\.cn)?\/([^:@]+)[:@].+$/.exec(
          image,
        );
      if (!match) throw new Error(`${image} is not an ECR image`);
      const [, account, region, repository] = match;
      const owner = account === '${AWS::AccountId}' ? ACCOUNT : account;
      return `arn:${PARTITION}:ecr:${region === '${AWS::Region}' ? REGION : region}:${owner}:repository/${repository}`;
    },
    sagemakerLogGroup: (path) => arn('logs', `log-group:${path}:*`),
    fineTuningKey: attr(data.fineTuning.encryptionKey, 'Arn'),
    weights: (modelId) => {
      const model = config.models[modelId];
      return model ? s3Weights(modelId, model) : undefined;
    },
    volumeKey: inference.volumeKey ? attr(inference.volumeKey, 'Arn') : undefined,
    flowLogGroup: api.api.chatCapacity
      ? attr(child(api.api.chatCapacity, 'FlowLogs'), 'Arn')
      : undefined,
    roleArn: (principal) => attr(roles[principal], 'Arn'),
  };
}

function locateArgs(resolved: ResolvedApp, construct: IConstruct): [string, string] {
  const { stack, logicalId } = resolved.locate(construct);
  return [stack, logicalId];
}
