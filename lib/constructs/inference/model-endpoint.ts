import { Fn } from 'aws-cdk-lib';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import {
  CfnEndpoint,
  CfnEndpointConfig,
  CfnInferenceComponent,
  CfnModel,
} from 'aws-cdk-lib/aws-sagemaker';
import { Construct } from 'constructs';
import {
  endpointName,
  inferenceComponentName,
} from '../../../lambda/inference/backends/sagemaker-names';
import type { FineTuningConfig, ModelConfig } from '../../config/schema';
import { CopyAutoscaling } from './copy-autoscaling';
import type { InferenceRole } from './inference-role';
import { acceptsVolumeKmsKey, verifyGpuMemory, verifyModelFitsInstance } from './instance-types';
import { lmiEnvironment, STARTUP_TIMEOUT_SECONDS, s3Weights } from './lmi-container';
import { ModelAlarms } from './model-alarms';

/** The one production variant of every endpoint. */
export const VARIANT_NAME = 'AllTraffic';

export interface ModelEndpointProps {
  /** Environment name; with the model id it gives the endpoint and component names the API invokes. */
  readonly environmentName: string;
  readonly modelId: string;
  readonly model: ModelConfig;
  /** LoRA serving settings (vLLM's adapter slots and highest rank). */
  readonly fineTuning: FineTuningConfig;
  /** The execution role SageMaker assumes; this construct grants it what the model needs. */
  readonly role: InferenceRole;
  /**
   * Key for the instances' ML storage volumes. Used only for instance types without local NVMe
   * storage (SageMaker rejects a key for those, and their NVMe volumes are encrypted by the
   * instance's hardware).
   * @default - volumes encrypted with an AWS managed key
   */
  readonly volumeKey?: IKey;
  /** Let the model's copies and instances scale to zero when idle. */
  readonly scaleToZero: boolean;
  /** Concurrent requests per copy that autoscaling aims for. */
  readonly targetConcurrentRequestsPerCopy: number;
}

/**
 * One base model on its own SageMaker endpoint: the model (an LMI/vLLM container), an endpoint
 * config for inference components with managed instance scaling, the endpoint, the base inference
 * component (LoRA adapter components go on top of it later), autoscaling of its copies, and its
 * alarms.
 */
export class ModelEndpoint extends Construct {
  public readonly endpointName: string;
  public readonly inferenceComponentName: string;
  public readonly model: CfnModel;
  public readonly endpointConfig: CfnEndpointConfig;
  public readonly endpoint: CfnEndpoint;
  public readonly inferenceComponent: CfnInferenceComponent;
  public readonly autoscaling: CopyAutoscaling;
  public readonly alarms: ModelAlarms;
  /** The container runs without network access (weights in S3). */
  public readonly networkIsolated: boolean;

  constructor(scope: Construct, id: string, props: ModelEndpointProps) {
    super(scope, id);
    const { model, modelId } = props;
    verifyModelFitsInstance(modelId, model);
    verifyGpuMemory(modelId, model, props.fineTuning);
    this.endpointName = endpointName(props.environmentName, modelId);
    this.inferenceComponentName = inferenceComponentName(props.environmentName, modelId);
    const weights = s3Weights(modelId, model);
    props.role.grantServing({
      modelId,
      image: model.containerImage,
      weights,
      endpointName: this.endpointName,
      inferenceComponentName: this.inferenceComponentName,
    });

    const host = componentEndpoint(this, {
      role: props.role,
      model,
      environment: lmiEnvironment(modelId, model, props.fineTuning),
      weightsUri: weights?.uri,
      endpointName: this.endpointName,
      volumeKey: props.volumeKey,
      scaleToZero: props.scaleToZero,
    });
    this.networkIsolated = weights !== undefined;
    this.model = host.model;
    this.endpointConfig = host.endpointConfig;
    this.endpoint = host.endpoint;

    // CfnInferenceComponent has no name attribute: the name is set here and reused (the API derives
    // it too).
    this.inferenceComponent = new CfnInferenceComponent(this, 'Component', {
      inferenceComponentName: this.inferenceComponentName,
      endpointName: this.endpointName,
      variantName: VARIANT_NAME,
      specification: {
        modelName: this.model.attrModelName,
        computeResourceRequirements: {
          numberOfAcceleratorDevicesRequired: model.acceleratorsPerCopy,
          minMemoryRequiredInMb: model.memoryMiBPerCopy,
        },
        startupParameters: {
          modelDataDownloadTimeoutInSeconds: STARTUP_TIMEOUT_SECONDS,
          containerStartupHealthCheckTimeoutInSeconds: STARTUP_TIMEOUT_SECONDS,
        },
      },
      runtimeConfig: { copyCount: 1 },
    });
    this.inferenceComponent.addResourceDependency(this.endpoint);

    this.autoscaling = new CopyAutoscaling(this, 'Autoscaling', {
      component: this.inferenceComponent,
      componentName: this.inferenceComponentName,
      maxCopies: model.maxCopies,
      scaleToZero: props.scaleToZero,
      targetConcurrentRequestsPerCopy: props.targetConcurrentRequestsPerCopy,
    });
    this.alarms = new ModelAlarms(this, 'Alarms', {
      modelId,
      componentName: this.inferenceComponentName,
    });
  }
}

/**
 * What a chat model and a speech model are hosted on alike: the model (its container, its weights
 * from S3 when the config names them), an endpoint config for inference components with managed
 * instance scaling (an execution role and no model in the variant), and the endpoint. The caller
 * adds the base inference component.
 */
export function componentEndpoint(
  scope: Construct,
  props: {
    role: InferenceRole;
    model: Pick<ModelConfig, 'containerImage' | 'instanceType' | 'instanceCount'>;
    environment: Record<string, string>;
    /** `s3://` prefix of the weights; absent when the container downloads them itself. */
    weightsUri?: string;
    endpointName: string;
    volumeKey?: IKey;
    scaleToZero: boolean;
  },
): { model: CfnModel; endpointConfig: CfnEndpointConfig; endpoint: CfnEndpoint } {
  const { model: config } = props;
  const role = props.role.role;
  const model = containerModel(scope, 'Model', props);

  const useVolumeKey = props.volumeKey !== undefined && acceptsVolumeKmsKey(config.instanceType);
  const endpointConfig = new CfnEndpointConfig(scope, 'EndpointConfig', {
    executionRoleArn: role.roleArn,
    kmsKeyId: useVolumeKey ? props.volumeKey?.keyArn : undefined,
    productionVariants: [
      {
        variantName: VARIANT_NAME,
        instanceType: config.instanceType,
        initialInstanceCount: Math.max(1, config.instanceCount.min),
        managedInstanceScaling: {
          status: 'ENABLED',
          minInstanceCount: props.scaleToZero ? 0 : Math.max(1, config.instanceCount.min),
          maxInstanceCount: config.instanceCount.max,
        },
        routingConfig: { routingStrategy: 'LEAST_OUTSTANDING_REQUESTS' },
      },
    ],
  });
  endpointConfig.node.addDependency(role);
  const endpoint = new CfnEndpoint(scope, 'Endpoint', {
    endpointName: props.endpointName,
    endpointConfigName: endpointConfig.attrEndpointConfigName,
  });
  return { model, endpointConfig, endpoint };
}

/**
 * A SageMaker model of the config's container with `environment`: the one the endpoint's base
 * component runs, or another on the same endpoint (a speech model's translation component, whose
 * container routes `/invocations` to another handler).
 */
export function containerModel(
  scope: Construct,
  id: string,
  props: {
    role: InferenceRole;
    model: Pick<ModelConfig, 'containerImage'>;
    environment: Record<string, string>;
    /** `s3://` prefix of the weights; absent when the container downloads them itself. */
    weightsUri?: string;
  },
): CfnModel {
  const role = props.role.role;
  const { weightsUri } = props;
  // Weights in S3 are downloaded by SageMaker, so the container needs no network. A Hugging Face
  // id is downloaded by the container from huggingface.co: that needs internet access. (No
  // cdk-nag rule covers a model's network isolation; the choice is made here, per model.)
  // No ModelName: the model is replaced on every change, and a generated name lets old and new
  // coexist.
  const model = new CfnModel(scope, id, {
    executionRoleArn: role.roleArn,
    enableNetworkIsolation: weightsUri !== undefined,
    primaryContainer: {
      image: Fn.sub(props.model.containerImage),
      environment: props.environment,
      modelDataSource: weightsUri
        ? { s3DataSource: { s3Uri: weightsUri, s3DataType: 'S3Prefix', compressionType: 'None' } }
        : undefined,
    },
  });
  // SageMaker checks the role's access when it creates the model: attach the policy first.
  model.node.addDependency(role);
  return model;
}
