import { SecretValue } from 'aws-cdk-lib';
import { ConfigError } from '../../config/load';
import type { FineTuningConfig, ModelConfig } from '../../config/schema';

/**
 * vLLM's LoRA settings for a base model that takes adapters (one with `architecture` in the
 * config), from `fineTuning` in the config: adapters (fine-tunes and uploads) are checked against
 * the same ranks before they are deployed, so the engine never meets a rank above
 * `OPTION_MAX_LORA_RANK`.
 */
export function loraEnvironment(
  model: ModelConfig,
  fineTuning: FineTuningConfig,
): Record<string, string> {
  if (!model.architecture) return {};
  return {
    OPTION_ENABLE_LORA: 'true',
    OPTION_MAX_LORAS: String(fineTuning.serving.maxActiveAdapters),
    OPTION_MAX_CPU_LORAS: String(fineTuning.serving.maxCachedAdapters),
    OPTION_MAX_LORA_RANK: String(Math.max(...fineTuning.lora.ranks)),
  };
}

/** How long SageMaker waits for weights to download and for the container to pass its health check. */
export const STARTUP_TIMEOUT_SECONDS = 3600; // the most SageMaker allows for both

/** Where SageMaker puts model data it downloads from S3 itself (`ModelDataSource`). */
const MODEL_DATA_DIR = '/opt/ml/model';

/** Weights in S3, split into the parts IAM and SageMaker need. */
export interface S3Weights {
  readonly bucket: string;
  /** Key prefix of the weights, ending with `/` (empty for a whole bucket). */
  readonly prefix: string;
  /** `s3://bucket/prefix/`: an uncompressed S3 prefix, as `ModelDataSource` requires. */
  readonly uri: string;
}

/** The weights of `model` when they are an `s3://` URI; `undefined` for a Hugging Face model id. */
export function s3Weights(
  modelId: string,
  model: Pick<ModelConfig, 'weights'>,
): S3Weights | undefined {
  if (!model.weights.startsWith('s3://')) return undefined;
  const match = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(model.weights);
  if (!match) {
    throw new ConfigError(
      `Model "${modelId}": weights "${model.weights}" is not a valid S3 URI: use s3://BUCKET/PREFIX/ (a folder of ` +
        'Hugging Face files) or a Hugging Face model id such as meta-llama/Llama-3.1-8B-Instruct.',
    );
  }
  const [, bucket = '', rawPrefix = ''] = match;
  const prefix = rawPrefix === '' || rawPrefix.endsWith('/') ? rawPrefix : `${rawPrefix}/`;
  return { bucket, prefix, uri: `s3://${bucket}/${prefix}` };
}

/**
 * Environment of the LMI (DJL Serving) container with the vLLM engine in async mode: it takes the
 * OpenAI chat body (`messages`) and streams JSON lines, which the SageMaker backend parses. Async
 * mode is LMI's default from v17; it is set explicitly anyway, with `OPTION_ROLLING_BATCH=disable`
 * (async mode replaces LMI's rolling batch with vLLM's engine), as the LMI vLLM user guide's async
 * configuration lists them. `OPTION_SERVED_MODEL_NAME` is the catalog id, so the container's logs
 * and answers name the model; the backend leaves `model` out of the body all the same (the handler
 * fills in the served name).
 */
export function lmiEnvironment(
  modelId: string,
  model: ModelConfig,
  fineTuning: FineTuningConfig,
): Record<string, string> {
  const weights = s3Weights(modelId, model);
  return {
    // Weights in S3 are downloaded by SageMaker into /opt/ml/model (so the container can run
    // network isolated); a Hugging Face id is downloaded by the container itself.
    HF_MODEL_ID: weights ? MODEL_DATA_DIR : model.weights,
    OPTION_ASYNC_MODE: 'true',
    OPTION_ROLLING_BATCH: 'disable',
    OPTION_ENTRYPOINT: 'djl_python.lmi_vllm.vllm_async_service',
    OPTION_SERVED_MODEL_NAME: modelId,
    OPTION_TENSOR_PARALLEL_DEGREE: String(model.acceleratorsPerCopy),
    OPTION_MAX_MODEL_LEN: String(model.contextWindow),
    // The one serving density (vLLM max_num_seqs): the autoscaling target and the cost model read
    // it too.
    OPTION_MAX_ROLLING_BATCH_SIZE: String(model.serving.sequencesPerCopy),
    OPTION_GPU_MEMORY_UTILIZATION: String(model.serving.gpuMemoryUtilization),
    ...loraEnvironment(model, fineTuning),
    // vLLM splits a thinking model's `<think>` text into `reasoning` (LMI's `reasoning_parser`
    // and `enable_reasoning` properties, djl-serving v0.36.0 `vllm_rb_properties.py`, handed to
    // vLLM's OpenAIServingChat by `vllm_async_service.py`); lambda/inference/reasoning.ts shapes
    // it as the client asked.
    ...(model.reasoning
      ? { OPTION_ENABLE_REASONING: 'true', OPTION_REASONING_PARSER: model.reasoning.parser }
      : {}),
    OPTION_MODEL_LOADING_TIMEOUT: String(STARTUP_TIMEOUT_SECONDS),
    // Exit when the engine dies, so SageMaker replaces the copy instead of routing requests to a
    // dead engine.
    SERVING_FAIL_FAST: 'true',
    // huggingface_hub reads HF_TOKEN. SageMaker's container environment takes plain strings only:
    // CloudFormation resolves the secret at deploy time (a dynamic reference), so the template
    // never holds the token.
    ...(model.hfTokenSecretArn && !weights
      ? { HF_TOKEN: SecretValue.secretsManager(model.hfTokenSecretArn).unsafeUnwrap() }
      : {}),
  };
}
