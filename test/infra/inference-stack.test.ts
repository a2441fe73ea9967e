import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import {
  TRANSCRIPTION_HANDLER,
  TRANSLATION_HANDLER,
} from '../../lambda/audio/vllm-speech-container';
import {
  endpointName,
  inferenceComponentName,
  translationComponentName,
} from '../../lambda/inference/backends/sagemaker-names';
import { loadConfig } from '../../lib/config/load';
import { type ModelConfig, targetConcurrencyPerCopy } from '../../lib/config/schema';
import { lmiEnvironment, loraEnvironment } from '../../lib/constructs/inference/lmi-container';
import { VARIANT_NAME } from '../../lib/constructs/inference/model-endpoint';
import { createApp } from '../../lib/create-app';
import { roleStatements, type SynthesizedApp, synthesize } from '../support/synth';

const LLAMA_8B = 'qwen3-8b';

/** The model endpoint construct of `id` (fails the test when there is none). */
function endpointOf(stacks: SynthesizedApp['stacks'], id: string) {
  const endpoint = stacks.inference.models[id];
  if (!endpoint) throw new Error(`no ModelEndpoint for ${id}`);
  return endpoint;
}

/** Every statement of every IAM policy attached to `roleLogicalId`. */
describe('inference stack (dev: scale to zero)', () => {
  const { inference, api, config, stacks } = synthesize({ env: 'dev' });
  const env = config.environment.name;
  const models = Object.entries(config.models);

  it('is its own stack, Tierline-<env>-Inference, tagged like the others', () => {
    expect(stacks.inference.stackName).toBe(`Tierline-${env}-Inference`);
    inference.hasResourceProperties('AWS::SageMaker::Endpoint', {
      Tags: Match.arrayWith([
        { Key: 'environment', Value: env },
        { Key: 'project', Value: 'tierline' },
      ]),
    });
  });

  it('has one endpoint config and endpoint per configured model, and a model, inference component and scalable target per component', () => {
    const endpoints = models.length + Object.keys(config.speechModels).length;
    for (const type of ['AWS::SageMaker::EndpointConfig', 'AWS::SageMaker::Endpoint']) {
      inference.resourceCountIs(type, endpoints);
    }
    // A speech model that translates has a second component (and its own model).
    const translating = Object.values(config.speechModels).filter((m) => m.translates).length;
    for (const type of [
      'AWS::SageMaker::Model',
      'AWS::SageMaker::InferenceComponent',
      'AWS::ApplicationAutoScaling::ScalableTarget',
    ]) {
      inference.resourceCountIs(type, endpoints + translating);
    }
  });

  it.each(models)('runs %s in an LMI (vLLM) container with LoRA', (id, model) => {
    inference.hasResourceProperties('AWS::SageMaker::Model', {
      ExecutionRoleArn: Match.anyValue(),
      // Hugging Face weights are downloaded by the container: it needs the network.
      EnableNetworkIsolation: false,
      PrimaryContainer: {
        Image: { 'Fn::Sub': model.containerImage },
        Environment: Match.objectLike({
          HF_MODEL_ID: model.weights,
          OPTION_ASYNC_MODE: 'true',
          OPTION_ROLLING_BATCH: 'disable',
          OPTION_ENTRYPOINT: 'djl_python.lmi_vllm.vllm_async_service',
          OPTION_SERVED_MODEL_NAME: id,
          OPTION_TENSOR_PARALLEL_DEGREE: String(model.acceleratorsPerCopy),
          OPTION_MAX_MODEL_LEN: String(model.contextWindow),
          OPTION_ENABLE_LORA: 'true',
          OPTION_MAX_LORAS: String(config.fineTuning.serving.maxActiveAdapters),
          OPTION_MAX_CPU_LORAS: String(config.fineTuning.serving.maxCachedAdapters),
          OPTION_MAX_LORA_RANK: String(Math.max(...config.fineTuning.lora.ranks)),
        }),
        ModelDataSource: Match.absent(),
      },
    });
  });

  it.each(models)('serves %s from its named endpoint and component', (id, model) => {
    const endpointLogicalId = stacks.inference.getLogicalId(endpointOf(stacks, id).endpoint);
    const modelLogicalId = stacks.inference.getLogicalId(endpointOf(stacks, id).model);

    inference.hasResourceProperties('AWS::SageMaker::EndpointConfig', {
      ExecutionRoleArn: Match.anyValue(),
      ProductionVariants: [
        {
          VariantName: VARIANT_NAME,
          InstanceType: model.instanceType,
          InitialInstanceCount: Math.max(1, model.instanceCount.min),
          ManagedInstanceScaling: {
            Status: 'ENABLED',
            MinInstanceCount: 0,
            MaxInstanceCount: model.instanceCount.max,
          },
          RoutingConfig: { RoutingStrategy: 'LEAST_OUTSTANDING_REQUESTS' },
          ModelName: Match.absent(),
        },
      ],
    });
    inference.hasResourceProperties('AWS::SageMaker::Endpoint', {
      EndpointName: endpointName(env, id),
    });
    inference.hasResource('AWS::SageMaker::InferenceComponent', {
      Properties: {
        InferenceComponentName: inferenceComponentName(env, id),
        EndpointName: endpointName(env, id),
        VariantName: VARIANT_NAME,
        Specification: {
          ModelName: { 'Fn::GetAtt': [modelLogicalId, 'ModelName'] },
          ComputeResourceRequirements: {
            NumberOfAcceleratorDevicesRequired: model.acceleratorsPerCopy,
            MinMemoryRequiredInMb: model.memoryMiBPerCopy,
          },
          StartupParameters: Match.anyValue(),
        },
        RuntimeConfig: { CopyCount: 1 },
        Tags: Match.anyValue(),
      },
      DependsOn: [endpointLogicalId],
    });
  });

  it('scales copies from zero up to maxCopies on concurrent requests per copy', () => {
    for (const [id, model] of models) {
      const component = endpointOf(stacks, id).inferenceComponent;
      inference.hasResource('AWS::ApplicationAutoScaling::ScalableTarget', {
        Properties: {
          ServiceNamespace: 'sagemaker',
          ResourceId: `inference-component/${inferenceComponentName(env, id)}`,
          ScalableDimension: 'sagemaker:inference-component:DesiredCopyCount',
          MinCapacity: 0,
          MaxCapacity: model.maxCopies,
          // The Application Auto Scaling service-linked role, not a role of ours.
          RoleARN: Match.absent(),
        },
        DependsOn: [stacks.inference.getLogicalId(component)],
      });
      inference.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
        PolicyName: `${inferenceComponentName(env, id)}-concurrent-requests`,
        PolicyType: 'TargetTrackingScaling',
        TargetTrackingScalingPolicyConfiguration: Match.objectLike({
          TargetValue: targetConcurrencyPerCopy(
            config.models[id] as ModelConfig,
            config.environment,
          ),
          PredefinedMetricSpecification: {
            PredefinedMetricType:
              'SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution',
          },
        }),
      });
    }
  });

  it('scales from zero to one copy when a request finds no capacity (AWS pattern)', () => {
    for (const [id] of models) {
      const { scaleFromZero } = endpointOf(stacks, id).autoscaling;
      expect(scaleFromZero).toBeDefined();
      inference.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
        PolicyName: `${inferenceComponentName(env, id)}-scale-from-zero`,
        PolicyType: 'StepScaling',
        StepScalingPolicyConfiguration: Match.objectLike({
          AdjustmentType: 'ChangeInCapacity',
          StepAdjustments: [{ MetricIntervalLowerBound: 0, ScalingAdjustment: 1 }],
        }),
      });
      inference.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/SageMaker',
        MetricName: 'NoCapacityInvocationFailures',
        Dimensions: [{ Name: 'InferenceComponentName', Value: inferenceComponentName(env, id) }],
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        Threshold: 1,
        AlarmActions: [{ Ref: stacks.inference.getLogicalId(scaleFromZero as never) }],
      });
    }
  });

  it('alarms on p90 latency, 5xx and model errors per model, treating missing data as fine', () => {
    for (const [id] of models) {
      const dimensions = [
        { Name: 'InferenceComponentName', Value: inferenceComponentName(env, id) },
      ];
      for (const [metric, statistic] of [
        ['ModelLatency', { ExtendedStatistic: 'p90' }],
        ['Invocation5XXErrors', { Statistic: 'Sum' }],
        ['InvocationModelErrors', { Statistic: 'Sum' }],
      ] as const) {
        inference.hasResourceProperties('AWS::CloudWatch::Alarm', {
          Namespace: 'AWS/SageMaker',
          MetricName: metric,
          Dimensions: dimensions,
          ...statistic,
          Threshold: Match.anyValue(),
          TreatMissingData: 'notBreaching',
        });
      }
      const { alarms } = endpointOf(stacks, id);
      expect([alarms.latencyAlarm, alarms.serverErrorsAlarm, alarms.modelErrorsAlarm]).toHaveLength(
        3,
      );
    }
    // Three health alarms and one scale-from-zero alarm per inference component: a chat model's
    // base, a speech model's transcription, and the translation of one that translates.
    const speechComponents = Object.values(config.speechModels).reduce(
      (sum, model) => sum + (model.translates ? 2 : 1),
      0,
    );
    inference.resourceCountIs('AWS::CloudWatch::Alarm', (models.length + speechComponents) * 4);
  });

  it('creates no volume key when every instance type has local NVMe storage (SageMaker rejects one)', () => {
    inference.resourceCountIs('AWS::KMS::Key', 0);
    inference.allResourcesProperties('AWS::SageMaker::EndpointConfig', {
      KmsKeyId: Match.absent(),
    });
  });

  it('lets the execution role pull only the configured image, and write only its own logs', () => {
    const role = stacks.inference.getLogicalId(
      stacks.inference.role.role.node.defaultChild as never,
    );
    inference.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [Match.objectLike({ Principal: { Service: 'sagemaker.amazonaws.com' } })],
      },
      ManagedPolicyArns: Match.absent(),
    });
    const statements = roleStatements(inference, role);
    const actions = statements.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));
    expect(actions.sort()).toEqual(
      [
        'cloudwatch:PutMetricData',
        'ecr:BatchCheckLayerAvailability',
        'ecr:BatchGetImage',
        'ecr:GetAuthorizationToken',
        'ecr:GetDownloadUrlForLayer',
        'logs:CreateLogGroup',
        'logs:CreateLogStream',
        'logs:DescribeLogStreams',
        'logs:PutLogEvents',
        // Adapter archives (below).
        's3:GetObject',
        'kms:Decrypt',
      ].sort(),
    );
    const pull = statements.find((s) => s.Action.includes('ecr:BatchGetImage'));
    // LMI for the chat models, the account's copy of vLLM's image for the speech models.
    expect(pull?.Resource).toEqual([
      { 'Fn::Sub': 'arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/vllm' },
      {
        'Fn::Sub': 'arn:${AWS::Partition}:ecr:${AWS::Region}:763104351884:repository/djl-inference',
      },
    ]);
    const logs = JSON.stringify(
      statements.find((s) => s.Action.includes('logs:PutLogEvents'))?.Resource,
    );
    for (const [id] of models) {
      expect(logs).toContain(`/aws/sagemaker/Endpoints/${endpointName(env, id)}:log-stream:*`);
      expect(logs).toContain(
        `/aws/sagemaker/InferenceComponents/${inferenceComponentName(env, id)}:log-stream:*`,
      );
    }
  });

  it('lets the execution role read adapter archives, and only those, with the fine-tuning key (adapter components have no role of their own)', () => {
    const role = stacks.inference.getLogicalId(
      stacks.inference.role.role.node.defaultChild as never,
    );
    const statements = roleStatements(inference, role);
    const read = statements.find((s) => s.Sid === 'ReadAdapters');
    const objects = JSON.stringify(read?.Resource);
    expect(read?.Action).toBe('s3:GetObject');
    expect(objects).toContain(`:s3:::tierline-${env}-lora-`);
    expect(
      ((read?.Resource ?? []) as unknown[]).map(
        (r) => JSON.stringify(r).match(/\/(adapters|jobs)[^"]*/)?.[0],
      ),
    ).toEqual(['/adapters/*', '/jobs/*/output/*']);
    const decrypt = statements.find((s) => s.Sid === 'DecryptAdapters');
    expect(decrypt?.Action).toBe('kms:Decrypt');
    // The fine-tuning store's key, imported from the data stack.
    expect(JSON.stringify(decrypt?.Resource)).toMatch(/Fn::ImportValue.*FineTuningKey/);
  });

  it('exports nothing, and the API stack imports nothing from it', () => {
    expect(Object.keys(inference.toJSON().Outputs ?? {})).toEqual([]);
    expect(stacks.api.dependencies).not.toContain(stacks.inference);
    expect(JSON.stringify(api.toJSON())).not.toMatch(/Fn::ImportValue[^}]*Inference/);
  });

  it('lets the chat function (only) invoke exactly the configured endpoints', () => {
    const role = stacks.api.getLogicalId(
      stacks.api.api.chatFunction.role.node.defaultChild as never,
    );
    const apiRole = stacks.api.getLogicalId(
      stacks.api.api.apiFunction.role.node.defaultChild as never,
    );
    const sagemakerOf = (logicalId: string) =>
      roleStatements(api, logicalId).filter((s) =>
        (Array.isArray(s.Action) ? s.Action : [s.Action]).some((a) => a.startsWith('sagemaker:')),
      );
    const adapterComponents = {
      'Fn::Join': [
        '',
        [
          'arn:',
          { Ref: 'AWS::Partition' },
          ':sagemaker:',
          { Ref: 'AWS::Region' },
          ':',
          { Ref: 'AWS::AccountId' },
          `:inference-component/tierline-${env}-lora-*`,
        ],
      ],
    };
    // The API function manages adapter components (uploaded adapters) and invokes only the speech
    // endpoints (transcriptions run in it: a multipart body, not a stream).
    const apiSagemaker = sagemakerOf(apiRole);
    const speechInvoke = apiSagemaker.filter((s) => s.Action === 'sagemaker:InvokeEndpoint');
    expect(speechInvoke).toHaveLength(1);
    const invoked = JSON.stringify(speechInvoke[0]?.Resource);
    // The endpoint (the action's required resource) and each component a request may name: the
    // transcription component, and the translation component of a model that translates.
    for (const [id, model] of Object.entries(config.speechModels)) {
      expect(invoked).toContain(`:endpoint/${endpointName(env, id)}"`);
      expect(invoked).toContain(`:inference-component/${inferenceComponentName(env, id)}"`);
      const translation = `:inference-component/${translationComponentName(env, id)}"`;
      if (model.translates) expect(invoked).toContain(translation);
      else expect(invoked).not.toContain(translation);
    }
    for (const [id] of models) expect(invoked).not.toContain(`${endpointName(env, id)}"`);
    // Besides: stopping the training job of a cancelled fine-tuning job (asserted in
    // fine-tuning.test.ts).
    const apiStatements = apiSagemaker.filter(
      (s) => s.Action !== 'sagemaker:StopTrainingJob' && s.Action !== 'sagemaker:InvokeEndpoint',
    );
    expect(apiStatements).toHaveLength(1);
    expect(apiStatements[0]?.Action).toEqual([
      'sagemaker:AddTags',
      'sagemaker:CreateInferenceComponent',
      'sagemaker:DeleteInferenceComponent',
      'sagemaker:DescribeInferenceComponent',
    ]);
    expect(JSON.stringify(apiStatements)).not.toContain('Invoke');
    const sagemaker = sagemakerOf(role);
    // The chat function: invoke the endpoints, and describe adapter components (a deploying model's
    // status).
    expect(sagemaker).toHaveLength(2);
    expect(sagemaker[1]).toEqual({
      Effect: 'Allow',
      Action: 'sagemaker:DescribeInferenceComponent',
      Resource: adapterComponents,
    });
    expect(sagemaker[0]).toEqual({
      Effect: 'Allow',
      Action: ['sagemaker:InvokeEndpoint', 'sagemaker:InvokeEndpointWithResponseStream'],
      // In the order IAM statements keep them: sorted by ARN.
      Resource: Object.keys(config.models)
        .sort((x, y) => endpointName(env, x).localeCompare(endpointName(env, y)))
        .map((id) => ({
          'Fn::Join': [
            '',
            [
              'arn:',
              { Ref: 'AWS::Partition' },
              ':sagemaker:',
              { Ref: 'AWS::Region' },
              ':',
              { Ref: 'AWS::AccountId' },
              `:endpoint/${endpointName(env, id).toLowerCase()}`,
            ],
          ],
        })),
    });
    expect(JSON.stringify(sagemaker[0])).not.toContain('*');
  });
});

describe('inference stack (prod: always warm)', () => {
  const { inference, config, stacks } = synthesize({ env: 'prod' });

  it('keeps at least one copy and the configured instances', () => {
    for (const [id, model] of Object.entries(config.models)) {
      inference.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
        ResourceId: `inference-component/${inferenceComponentName('prod', id)}`,
        MinCapacity: 1,
        MaxCapacity: model.maxCopies,
      });
      inference.hasResourceProperties('AWS::SageMaker::EndpointConfig', {
        ProductionVariants: [
          Match.objectLike({
            InstanceType: model.instanceType,
            ManagedInstanceScaling: {
              Status: 'ENABLED',
              MinInstanceCount: Math.max(1, model.instanceCount.min),
              MaxInstanceCount: model.instanceCount.max,
            },
          }),
        ],
      });
    }
  });

  it('keeps one instance for each component of a speech model (one GPU each)', () => {
    for (const [id, model] of Object.entries(config.speechModels)) {
      const least = model.translates ? 2 : 1;
      inference.hasResourceProperties('AWS::SageMaker::EndpointConfig', {
        ProductionVariants: [
          Match.objectLike({
            InitialInstanceCount: Math.max(least, model.instanceCount.min),
            ManagedInstanceScaling: Match.objectLike({
              MinInstanceCount: Math.max(least, model.instanceCount.min),
            }),
          }),
        ],
      });
      inference.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
        ResourceId: `inference-component/${inferenceComponentName('prod', id)}`,
        MinCapacity: 1,
      });
    }
  });

  it('has no scale-from-zero policy or alarm', () => {
    const count =
      Object.keys(config.models).length +
      Object.values(config.speechModels).reduce((sum, m) => sum + (m.translates ? 2 : 1), 0);
    inference.resourceCountIs('AWS::ApplicationAutoScaling::ScalingPolicy', count);
    inference.allResourcesProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      PolicyType: 'TargetTrackingScaling',
    });
    inference.resourceCountIs('AWS::CloudWatch::Alarm', count * 3);
    for (const model of Object.values(stacks.inference.models)) {
      expect(model.autoscaling.scaleFromZero).toBeUndefined();
      expect(model.autoscaling.noCapacityAlarm).toBeUndefined();
    }
  });

  it('is not termination-protected, so an operator can destroy it to stop GPU cost', () => {
    expect(stacks.inference.terminationProtection).toBe(false);
    inference.resourceCountIs('AWS::DynamoDB::Table', 0);
    inference.resourceCountIs('AWS::S3::Bucket', 0);
  });
});

describe('inference stack with weights in S3 on an EBS-backed instance type', () => {
  const overrides = {
    models: {
      // Four 16 GB V100s: the 8B model's bf16 weights alone fill one (the GPU-memory check at
      // synth).
      [LLAMA_8B]: {
        weights: 's3://tierline-weights/llama-3.1-8b',
        instanceType: 'ml.p3.8xlarge',
        acceleratorsPerCopy: 4,
      },
    },
  };
  const { inference, stacks } = synthesize({ overrides });
  const role = stacks.inference.getLogicalId(stacks.inference.role.role.node.defaultChild as never);
  const keyArn = {
    'Fn::GetAtt': [
      stacks.inference.getLogicalId(stacks.inference.volumeKey?.node.defaultChild as never),
      'Arn',
    ],
  };

  it('lets SageMaker download the weights and runs the container network-isolated', () => {
    inference.hasResourceProperties('AWS::SageMaker::Model', {
      EnableNetworkIsolation: true,
      PrimaryContainer: Match.objectLike({
        Environment: Match.objectLike({ HF_MODEL_ID: '/opt/ml/model' }),
        ModelDataSource: {
          S3DataSource: {
            S3Uri: 's3://tierline-weights/llama-3.1-8b/',
            S3DataType: 'S3Prefix',
            CompressionType: 'None',
          },
        },
      }),
    });
    inference.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: role }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Effect: 'Allow',
            Action: 's3:GetObject',
            Resource: {
              'Fn::Join': [
                '',
                ['arn:', { Ref: 'AWS::Partition' }, ':s3:::tierline-weights/llama-3.1-8b/*'],
              ],
            },
          },
          Match.objectLike({
            Action: 's3:ListBucket',
            Condition: { StringLike: { 's3:prefix': ['llama-3.1-8b/*'] } },
          }),
        ]),
      },
    });
  });

  it('encrypts the volumes with a rotated KMS key the execution role may use', () => {
    inference.resourceCountIs('AWS::KMS::Key', 1);
    inference.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    inference.hasResourceProperties('AWS::SageMaker::EndpointConfig', {
      KmsKeyId: keyArn,
      ProductionVariants: [Match.objectLike({ InstanceType: 'ml.p3.8xlarge' })],
    });
    // The NVMe-backed models keep no key: SageMaker would reject it.
    inference.hasResourceProperties('AWS::SageMaker::EndpointConfig', {
      KmsKeyId: Match.absent(),
      ProductionVariants: [Match.objectLike({ InstanceType: 'ml.g6e.12xlarge' })],
    });
    inference.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: role }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: 'kms:CreateGrant',
            Resource: keyArn,
            Condition: { Bool: { 'kms:GrantIsForAWSResource': 'true' } },
          }),
        ]),
      },
    });
  });

  it('passes cdk-nag AwsSolutions with its S3 read acknowledged at the role', () => {
    const outdir = mkdtempSync(path.join(tmpdir(), 'tierline-nag-'));
    const cdkJson = require(path.join(__dirname, '..', '..', 'cdk.json')).context;
    const app = new App({ outdir, context: { ...cdkJson, 'aws:cdk:bundling-stacks': [] } });
    createApp(app, loadConfig({ env: 'dev', overrides }));
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    try {
      app.synth();
    } catch {
      // Violations fail synth; the report says which.
    }
    const report = JSON.parse(readFileSync(path.join(outdir, 'validation-report.json'), 'utf8'));
    const findings = report.pluginReports.flatMap(
      (r: {
        violations: { ruleName: string; violatingConstructs: { constructPath: string }[] }[];
      }) =>
        r.violations.flatMap((v) =>
          v.violatingConstructs.map((c) => `${v.ruleName} at ${c.constructPath}`),
        ),
    );
    expect(findings).toEqual([]);
  });
});

describe('speech-to-text endpoints (Whisper on vLLM’s SageMaker image)', () => {
  const { inference, config, stacks } = synthesize({ env: 'dev' });
  const env = config.environment.name;
  const speech = Object.entries(config.speechModels);

  const translating = speech.filter(([, model]) => model.translates);
  const transcribingOnly = speech.filter(([, model]) => !model.translates);

  it('has a model that translates and one that does not in the default catalog', () => {
    expect(translating.map(([id]) => id)).toEqual(['whisper-large-v3']);
    expect(transcribingOnly.map(([id]) => id)).toEqual(['whisper-large-v3-turbo']);
  });

  it.each(translating)(
    'runs %s’s translations on a second component of the same endpoint, routed to vLLM’s translation route',
    (id, model) => {
      const models = inference.findResources('AWS::SageMaker::Model', {
        Properties: {
          PrimaryContainer: { Environment: Match.objectLike({ SM_VLLM_SERVED_MODEL_NAME: id }) },
        },
      });
      const handlers = Object.values(models).map(
        (m) => m.Properties.PrimaryContainer.Environment.CUSTOM_FASTAPI_INVOCATION_HANDLER,
      );
      expect(handlers.sort()).toEqual([TRANSCRIPTION_HANDLER, TRANSLATION_HANDLER].sort());
      // vLLM 0.31.0 moved the route: vllm/entrypoints/speech_to_text/translation/api_router.py.
      expect(TRANSLATION_HANDLER).toBe(
        'vllm.entrypoints.speech_to_text.translation.api_router:create_translations',
      );
      expect(TRANSCRIPTION_HANDLER).toBe(
        'vllm.entrypoints.speech_to_text.transcription.api_router:create_transcriptions',
      );
      // Everything else in the two environments is the same: one model, one server setting.
      const environments = Object.values(models).map((m) => {
        const { CUSTOM_FASTAPI_INVOCATION_HANDLER: _, ...rest } =
          m.Properties.PrimaryContainer.Environment;
        return rest;
      });
      expect(environments[0]).toEqual(environments[1]);
      const translationModel = Object.entries(models).find(
        ([, m]) =>
          m.Properties.PrimaryContainer.Environment.CUSTOM_FASTAPI_INVOCATION_HANDLER ===
          TRANSLATION_HANDLER,
      )?.[0];
      inference.hasResourceProperties('AWS::SageMaker::InferenceComponent', {
        InferenceComponentName: translationComponentName(env, id),
        EndpointName: endpointName(env, id),
        VariantName: 'AllTraffic',
        Specification: Match.objectLike({
          ModelName: { 'Fn::GetAtt': [translationModel, 'ModelName'] },
          ComputeResourceRequirements: {
            NumberOfAcceleratorDevicesRequired: 1,
            MinMemoryRequiredInMb: 8192,
          },
        }),
      });
      expect(translationComponentName(env, id)).toBe(`tierline-${env}-${id}-translate`);
      // One GPU each on one-GPU instances: the endpoint starts with two, and each component may
      // grow to what the other leaves.
      inference.hasResourceProperties('AWS::SageMaker::EndpointConfig', {
        ProductionVariants: [
          Match.objectLike({ InstanceType: model.instanceType, InitialInstanceCount: 2 }),
        ],
      });
      const endpoint = stacks.inference.speechModels[id];
      expect(endpoint?.translation?.autoscaling.scaleFromZero).toBeDefined();
      for (const name of [inferenceComponentName(env, id), translationComponentName(env, id)]) {
        inference.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
          ResourceId: `inference-component/${name}`,
          MinCapacity: 0,
          MaxCapacity: model.instanceCount.max - 1,
        });
        inference.hasResourceProperties('AWS::CloudWatch::Alarm', {
          Dimensions: [{ Name: 'InferenceComponentName', Value: name }],
          MetricName: 'Invocation5XXErrors',
        });
      }
      // SageMaker writes each component's logs to its own log group: the role may write both.
      const role = stacks.inference.getLogicalId(
        stacks.inference.role.role.node.defaultChild as never,
      );
      const logs = JSON.stringify(
        roleStatements(inference, role).filter((st) => st.Action.includes('logs:PutLogEvents')),
      );
      expect(logs).toContain(
        `log-group:/aws/sagemaker/InferenceComponents/${translationComponentName(env, id)}`,
      );
      expect(logs).toContain(
        `log-group:/aws/sagemaker/InferenceComponents/${inferenceComponentName(env, id)}`,
      );
    },
  );

  it.each(transcribingOnly)('gives %s, which cannot translate, no translation component', (id) => {
    const names = Object.values(inference.findResources('AWS::SageMaker::InferenceComponent')).map(
      (c) => c.Properties.InferenceComponentName,
    );
    expect(names).toContain(inferenceComponentName(env, id));
    expect(names).not.toContain(translationComponentName(env, id));
    expect(stacks.inference.speechModels[id]?.translation).toBeUndefined();
  });

  it('refuses at synth a translating model whose instances cannot hold both components', () => {
    expect(() =>
      synthesize({
        overrides: {
          speechModels: { 'whisper-large-v3': { instanceCount: { min: 0, max: 1 } } },
        } as never,
      }),
    ).toThrow(/2 inference components .*instanceCount\.max 1 x 1 GPU of ml\.g5\.xlarge/);
  });

  it.each(speech)('runs %s with /invocations routed to vLLM’s transcription route', (id, model) => {
    inference.hasResourceProperties('AWS::SageMaker::Model', {
      // A Hugging Face id: the container downloads it, so it needs the network.
      EnableNetworkIsolation: false,
      PrimaryContainer: {
        Image: { 'Fn::Sub': model.containerImage },
        Environment: {
          SM_VLLM_MODEL: model.weights,
          SM_VLLM_SERVED_MODEL_NAME: id,
          SM_VLLM_MAX_MODEL_LEN: '448',
          SM_VLLM_GPU_MEMORY_UTILIZATION: '0.9',
          CUSTOM_FASTAPI_INVOCATION_HANDLER: TRANSCRIPTION_HANDLER,
        },
      },
    });
    inference.hasResourceProperties('AWS::SageMaker::InferenceComponent', {
      InferenceComponentName: inferenceComponentName(env, id),
      EndpointName: endpointName(env, id),
      Specification: Match.objectLike({
        ComputeResourceRequirements: {
          NumberOfAcceleratorDevicesRequired: 1,
          MinMemoryRequiredInMb: 8192,
        },
      }),
    });
    inference.hasResourceProperties('AWS::SageMaker::EndpointConfig', {
      ProductionVariants: [
        Match.objectLike({
          InstanceType: model.instanceType,
          ManagedInstanceScaling: {
            Status: 'ENABLED',
            MinInstanceCount: 0,
            MaxInstanceCount: model.instanceCount.max,
          },
        }),
      ],
    });
    const endpoint = stacks.inference.speechModels[id];
    expect(endpoint?.autoscaling.scaleFromZero).toBeDefined();
  });

  it('lets the execution role pull the vLLM image from the account’s own ECR copy', () => {
    const role = stacks.inference.getLogicalId(
      stacks.inference.role.role.node.defaultChild as never,
    );
    const pulls = roleStatements(inference, role).filter((s) =>
      s.Action.includes('ecr:BatchGetImage'),
    );
    expect(pulls.flatMap((s) => s.Resource as unknown[])).toContainEqual({
      'Fn::Sub': 'arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/vllm',
    });
  });

  it('refuses at synth a speech model whose weights do not fit one GPU', () => {
    expect(() =>
      synthesize({
        overrides: {
          speechModels: { 'whisper-large-v3': { parameters: 12_000_000_000 } },
        } as never,
      }),
    ).toThrow(/does not fit one GPU of ml.g5.xlarge/);
  });
});

describe('LoRA settings of the base components come from the config', () => {
  it('uses the configured adapter slots and the highest configured rank', () => {
    const { inference } = synthesize({
      overrides: {
        fineTuning: {
          lora: { ranks: [8, 16], defaultRank: 8 },
          serving: { maxActiveAdapters: 2, maxCachedAdapters: 6 },
        },
      },
    });
    const chatModels = Object.values(inference.findResources('AWS::SageMaker::Model')).filter(
      (m) => m.Properties.PrimaryContainer.Environment.OPTION_ENTRYPOINT,
    );
    expect(chatModels.length).toBeGreaterThan(0);
    for (const model of chatModels) {
      expect(model.Properties.PrimaryContainer.Environment).toMatchObject({
        OPTION_ENABLE_LORA: 'true',
        OPTION_MAX_LORAS: '2',
        OPTION_MAX_CPU_LORAS: '6',
        OPTION_MAX_LORA_RANK: '16',
      });
    }
    inference.hasResourceProperties('AWS::SageMaker::Model', {
      PrimaryContainer: Match.objectLike({
        Environment: Match.objectLike({
          OPTION_ENABLE_LORA: 'true',
          OPTION_MAX_LORAS: '2',
          OPTION_MAX_CPU_LORAS: '6',
          OPTION_MAX_LORA_RANK: '16',
        }),
      }),
    });
  });

  it('leaves LoRA off for a model without an architecture (it takes no adapters)', () => {
    const config = loadConfig({ env: 'dev' });
    const model = config.models[LLAMA_8B];
    if (!model) throw new Error('no 8B model in the config');
    const withoutArchitecture = { ...model, architecture: undefined };
    expect(loraEnvironment(withoutArchitecture, config.fineTuning)).toEqual({});
    expect(lmiEnvironment(LLAMA_8B, withoutArchitecture, config.fineTuning)).not.toHaveProperty(
      'OPTION_ENABLE_LORA',
    );
  });
});

describe('synth-time checks', () => {
  it('refuses more accelerators per copy than the instance type has, and says how to fix it', () => {
    expect(() =>
      synthesize({ overrides: { models: { [LLAMA_8B]: { acceleratorsPerCopy: 2 } } } }),
    ).toThrow(
      /Model "qwen3-8b": acceleratorsPerCopy is 2 but ml\.g6e\.xlarge has 1 GPU\..*ml\.g6e\.12xlarge, 4 GPUs/,
    );
  });

  it('refuses more memory per copy than the instance type has', () => {
    expect(() =>
      synthesize({ overrides: { models: { [LLAMA_8B]: { memoryMiBPerCopy: 64 * 1024 } } } }),
    ).toThrow(/memoryMiBPerCopy is 65536 but ml\.g6e\.xlarge has 32768 MiB/);
  });

  it('refuses more copies than the endpoint instances can place (autoscaling would wait on them for ever)', () => {
    expect(() =>
      synthesize({
        overrides: { models: { [LLAMA_8B]: { instanceCount: { min: 1, max: 1 }, maxCopies: 2 } } },
      }),
    ).toThrow(
      /Model "qwen3-8b": maxCopies is 2 but at most 1 copies fit on 1 x ml\.g6e\.xlarge \(1 per instance\)\. Lower models\.qwen3-8b\.maxCopies to 1/,
    );
  });

  it('accepts an instance type it does not know, without checks', () => {
    const { inference } = synthesize({
      overrides: {
        models: { [LLAMA_8B]: { instanceType: 'ml.g7.2xlarge', acceleratorsPerCopy: 2 } },
      },
    });
    inference.hasResourceProperties('AWS::SageMaker::EndpointConfig', {
      KmsKeyId: Match.absent(),
      ProductionVariants: [Match.objectLike({ InstanceType: 'ml.g7.2xlarge' })],
    });
  });

  it('refuses an image SageMaker cannot pull (not ECR)', () => {
    expect(() =>
      synthesize({
        overrides: {
          models: { [LLAMA_8B]: { containerImage: 'docker.io/vllm/vllm-openai:latest' } },
        },
      }),
    ).toThrow(/not an Amazon ECR image URI/);
  });
});
