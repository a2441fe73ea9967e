import type { IKey } from 'aws-cdk-lib/aws-kms';
import { type CfnEndpoint, CfnInferenceComponent, type CfnModel } from 'aws-cdk-lib/aws-sagemaker';
import { Construct } from 'constructs';
import { TRANSCRIPTION_HANDLER } from '../../../lambda/audio/vllm-speech-container';
import {
  endpointName,
  inferenceComponentName,
} from '../../../lambda/inference/backends/sagemaker-names';
import type { SpeechModelConfig } from '../../config/schema';
import { CopyAutoscaling } from './copy-autoscaling';
import type { InferenceRole } from './inference-role';
import {
  GPU_INSTANCE_TYPES,
  SPEECH_GPU_MEMORY_UTILIZATION,
  verifySpeechModelFits,
} from './instance-types';
import { STARTUP_TIMEOUT_SECONDS, s3Weights } from './lmi-container';
import { ModelAlarms } from './model-alarms';
import { componentEndpoint, VARIANT_NAME } from './model-endpoint';

/** Where SageMaker puts model data it downloads from S3 itself (`ModelDataSource`). */
const MODEL_DATA_DIR = '/opt/ml/model';
/** Whisper's decoder holds 448 tokens (its `max_target_positions`): vLLM's context for the model. */
const WHISPER_MAX_MODEL_LEN = 448;
/**
 * Concurrent transcriptions per copy autoscaling aims for: vLLM batches Whisper's 30 s windows,
 * and a 4 MiB request is at most a few windows. An allowance, not a measurement (no GPU here).
 */
export const SPEECH_CONCURRENT_REQUESTS_PER_COPY = 8;
/** Host memory a Whisper copy reserves: half the instance's, the rest for SageMaker's agents. */
const HOST_MEMORY_SHARE = 0.5;

export interface SpeechEndpointProps {
  /** Environment name; with the model id it gives the endpoint and component names the API invokes. */
  readonly environmentName: string;
  readonly modelId: string;
  readonly model: SpeechModelConfig;
  readonly role: InferenceRole;
  /** @default - volumes encrypted with an AWS managed key */
  readonly volumeKey?: IKey;
  /** Let the model's copies and instances scale to zero when idle. */
  readonly scaleToZero: boolean;
}

/**
 * The environment of vLLM's SageMaker container (AWS's vLLM deep learning container with
 * aws/model-hosting-container-standards): `SM_VLLM_*` variables become vLLM's command-line
 * arguments (the standards' SageMaker quick start), and `CUSTOM_FASTAPI_INVOCATION_HANDLER` routes
 * `/invocations` to vLLM's transcription route (its "Customize Handlers" guide, method 1).
 */
export function speechEnvironment(
  modelId: string,
  model: SpeechModelConfig,
): Record<string, string> {
  const weights = s3Weights(modelId, model);
  return {
    SM_VLLM_MODEL: weights ? MODEL_DATA_DIR : model.weights,
    SM_VLLM_SERVED_MODEL_NAME: modelId,
    SM_VLLM_MAX_MODEL_LEN: String(WHISPER_MAX_MODEL_LEN),
    // The share the GPU-memory check at synth assumes (instance-types.ts).
    SM_VLLM_GPU_MEMORY_UTILIZATION: String(SPEECH_GPU_MEMORY_UTILIZATION),
    CUSTOM_FASTAPI_INVOCATION_HANDLER: TRANSCRIPTION_HANDLER,
  };
}

/**
 * One speech-to-text model (Whisper) on its own SageMaker endpoint, shaped as a chat model's
 * (`ModelEndpoint`): an endpoint for inference components with managed instance scaling, one base
 * component of one GPU, its copies autoscaled on concurrent requests (to zero when the environment
 * scales to zero), and its alarms. The container is vLLM's SageMaker image, not LMI: LMI's handler
 * takes JSON bodies only, and a transcription is multipart.
 */
export class SpeechEndpoint extends Construct {
  public readonly endpointName: string;
  public readonly inferenceComponentName: string;
  public readonly model: CfnModel;
  public readonly endpoint: CfnEndpoint;
  public readonly inferenceComponent: CfnInferenceComponent;
  public readonly autoscaling: CopyAutoscaling;
  public readonly alarms: ModelAlarms;

  constructor(scope: Construct, id: string, props: SpeechEndpointProps) {
    super(scope, id);
    const { model, modelId } = props;
    verifySpeechModelFits(modelId, model);
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
      environment: speechEnvironment(modelId, model),
      weightsUri: weights?.uri,
      endpointName: this.endpointName,
      volumeKey: props.volumeKey,
      scaleToZero: props.scaleToZero,
    });
    this.model = host.model;
    this.endpoint = host.endpoint;

    const hostMemoryGiB = GPU_INSTANCE_TYPES[model.instanceType]?.memoryGiB ?? 16;
    this.inferenceComponent = new CfnInferenceComponent(this, 'Component', {
      inferenceComponentName: this.inferenceComponentName,
      endpointName: this.endpointName,
      variantName: VARIANT_NAME,
      specification: {
        modelName: this.model.attrModelName,
        computeResourceRequirements: {
          // Whisper runs on one GPU (verifySpeechModelFits).
          numberOfAcceleratorDevicesRequired: 1,
          minMemoryRequiredInMb: Math.floor(hostMemoryGiB * 1024 * HOST_MEMORY_SHARE),
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
      // One copy per instance: each takes the instance's one GPU.
      maxCopies: model.instanceCount.max,
      scaleToZero: props.scaleToZero,
      targetConcurrentRequestsPerCopy: SPEECH_CONCURRENT_REQUESTS_PER_COPY,
    });
    this.alarms = new ModelAlarms(this, 'Alarms', {
      modelId,
      componentName: this.inferenceComponentName,
    });
  }
}
