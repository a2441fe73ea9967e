import type { IKey } from 'aws-cdk-lib/aws-kms';
import { type CfnEndpoint, CfnInferenceComponent, type CfnModel } from 'aws-cdk-lib/aws-sagemaker';
import { Construct } from 'constructs';
import type { AudioTask } from '../../../lambda/audio/transcription-request';
import {
  TRANSCRIPTION_HANDLER,
  TRANSLATION_HANDLER,
} from '../../../lambda/audio/vllm-speech-container';
import {
  endpointName,
  inferenceComponentName,
  speechComponentNames,
} from '../../../lambda/inference/backends/sagemaker-names';
import type { SpeechModelConfig } from '../../config/schema';
import { CopyAutoscaling } from './copy-autoscaling';
import type { InferenceRole } from './inference-role';
import {
  GPU_INSTANCE_TYPES,
  SPEECH_GPU_MEMORY_UTILIZATION,
  speechComponentCount,
  speechInstancesForOneCopyEach,
  verifySpeechModelFits,
} from './instance-types';
import { STARTUP_TIMEOUT_SECONDS, s3Weights } from './lmi-container';
import { ModelAlarms } from './model-alarms';
import { componentEndpoint, containerModel, VARIANT_NAME } from './model-endpoint';

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
 * `/invocations` to vLLM's transcription or translation route (its "Customize Handlers" guide,
 * method 1), one per container.
 */
export function speechEnvironment(
  modelId: string,
  model: SpeechModelConfig,
  task: AudioTask = 'transcribe',
): Record<string, string> {
  const weights = s3Weights(modelId, model);
  return {
    SM_VLLM_MODEL: weights ? MODEL_DATA_DIR : model.weights,
    SM_VLLM_SERVED_MODEL_NAME: modelId,
    SM_VLLM_MAX_MODEL_LEN: String(WHISPER_MAX_MODEL_LEN),
    // The share the GPU-memory check at synth assumes (instance-types.ts).
    SM_VLLM_GPU_MEMORY_UTILIZATION: String(SPEECH_GPU_MEMORY_UTILIZATION),
    CUSTOM_FASTAPI_INVOCATION_HANDLER:
      task === 'translate' ? TRANSLATION_HANDLER : TRANSCRIPTION_HANDLER,
  };
}

/** One inference component of the speech endpoint with its copy autoscaling and alarms. */
export interface SpeechComponent {
  readonly name: string;
  readonly model: CfnModel;
  readonly inferenceComponent: CfnInferenceComponent;
  readonly autoscaling: CopyAutoscaling;
  readonly alarms: ModelAlarms;
}

/**
 * One speech-to-text model (Whisper) on its own SageMaker endpoint, shaped as a chat model's
 * (`ModelEndpoint`): an endpoint for inference components with managed instance scaling, a
 * transcription component of one GPU and, for a model that translates, a translation component of
 * one GPU (its own model, whose container routes `/invocations` to vLLM's translation route), each
 * with its copies autoscaled on concurrent requests (to zero when the environment scales to zero)
 * and its alarms. The container is vLLM's SageMaker image, not LMI: LMI's handler takes JSON bodies
 * only, and a transcription is multipart.
 */
export class SpeechEndpoint extends Construct {
  public readonly endpointName: string;
  public readonly inferenceComponentName: string;
  public readonly model: CfnModel;
  public readonly endpoint: CfnEndpoint;
  public readonly inferenceComponent: CfnInferenceComponent;
  public readonly autoscaling: CopyAutoscaling;
  public readonly alarms: ModelAlarms;
  /** The translation component, for a model that translates. */
  public readonly translation?: SpeechComponent;

  constructor(scope: Construct, id: string, props: SpeechEndpointProps) {
    super(scope, id);
    const { model, modelId } = props;
    verifySpeechModelFits(modelId, model);
    this.endpointName = endpointName(props.environmentName, modelId);
    this.inferenceComponentName = inferenceComponentName(props.environmentName, modelId);
    const weights = s3Weights(modelId, model);
    // The names the API's InvokeEndpoint grant names too (tierline-api.ts): one list for both.
    const componentNames = speechComponentNames(props.environmentName, modelId, model.translates);
    for (const inferenceComponentName of componentNames) {
      props.role.grantServing({
        modelId,
        image: model.containerImage,
        weights,
        endpointName: this.endpointName,
        inferenceComponentName,
      });
    }

    const host = componentEndpoint(this, {
      role: props.role,
      // The endpoint starts with (and, unless it scales to zero, keeps) room for one copy of each.
      model: {
        ...model,
        instanceCount: {
          ...model.instanceCount,
          min: Math.max(model.instanceCount.min, speechInstancesForOneCopyEach(model)),
        },
      },
      environment: speechEnvironment(modelId, model),
      weightsUri: weights?.uri,
      endpointName: this.endpointName,
      volumeKey: props.volumeKey,
      scaleToZero: props.scaleToZero,
    });
    this.model = host.model;
    this.endpoint = host.endpoint;

    const transcription = this.component('', host.model, this.inferenceComponentName, props);
    this.inferenceComponent = transcription.inferenceComponent;
    this.autoscaling = transcription.autoscaling;
    this.alarms = transcription.alarms;
    const translationName = componentNames[1];
    if (translationName) {
      const translationModel = containerModel(this, 'TranslationModel', {
        role: props.role,
        model,
        environment: speechEnvironment(modelId, model, 'translate'),
        weightsUri: weights?.uri,
      });
      this.translation = this.component('Translation', translationModel, translationName, props);
    }
  }

  /** A component of one GPU running `model` on this endpoint, its autoscaling and its alarms. */
  private component(
    idPrefix: string,
    model: CfnModel,
    name: string,
    props: SpeechEndpointProps,
  ): SpeechComponent {
    const config = props.model;
    const hostMemoryGiB = GPU_INSTANCE_TYPES[config.instanceType]?.memoryGiB ?? 16;
    const components = speechComponentCount(config);
    const inferenceComponent = new CfnInferenceComponent(this, `${idPrefix}Component`, {
      inferenceComponentName: name,
      endpointName: this.endpointName,
      variantName: VARIANT_NAME,
      specification: {
        modelName: model.attrModelName,
        computeResourceRequirements: {
          // Whisper runs on one GPU (verifySpeechModelFits).
          numberOfAcceleratorDevicesRequired: 1,
          // Half the instance's host memory, shared by the components a one-GPU instance cannot
          // hold together anyway; the rest for SageMaker's agents.
          minMemoryRequiredInMb: Math.floor(hostMemoryGiB * 1024 * HOST_MEMORY_SHARE),
        },
        startupParameters: {
          modelDataDownloadTimeoutInSeconds: STARTUP_TIMEOUT_SECONDS,
          containerStartupHealthCheckTimeoutInSeconds: STARTUP_TIMEOUT_SECONDS,
        },
      },
      runtimeConfig: { copyCount: 1 },
    });
    inferenceComponent.addResourceDependency(this.endpoint);
    const gpus = GPU_INSTANCE_TYPES[config.instanceType]?.gpus ?? 1;
    const autoscaling = new CopyAutoscaling(this, `${idPrefix}Autoscaling`, {
      component: inferenceComponent,
      componentName: name,
      // One GPU a copy; the other component keeps room for its one copy.
      maxCopies: Math.max(1, config.instanceCount.max * gpus - (components - 1)),
      scaleToZero: props.scaleToZero,
      targetConcurrentRequestsPerCopy: SPEECH_CONCURRENT_REQUESTS_PER_COPY,
    });
    const alarms = new ModelAlarms(this, `${idPrefix}Alarms`, {
      // The descriptions name the model; the operator reading one must tell the components apart.
      modelId: idPrefix ? `${props.modelId} (${idPrefix.toLowerCase()}s)` : props.modelId,
      componentName: name,
    });
    return { name, model, inferenceComponent, autoscaling, alarms };
  }
}
