import { ConfigError } from '../../config/load';
import {
  type FineTuningConfig,
  LORA_MODULES,
  type ModelConfig,
  type SpeechModelConfig,
} from '../../config/schema';

/** What synth needs to know about a SageMaker GPU instance type. */
export interface GpuInstanceSpec {
  /** NVIDIA GPUs on one instance. */
  readonly gpus: number;
  /** Host memory of one instance, in GiB. */
  readonly memoryGiB: number;
  /** Memory of ONE of its GPUs as the driver reports it (nvidia-smi "Total"), in MiB; less than the GB sold. */
  readonly gpuMemoryMiB: number;
  /**
   * The instance has local NVMe storage (encrypted by the instance's hardware module). SageMaker
   * rejects a `KmsKeyId` in an endpoint config for such instance types ("If you specify a value for
   * KmsKeyId when using any nitro-based instances with local storage, the call to
   * CreateEndpointConfig fails").
   */
  readonly localNvmeStorage: boolean;
}

type Size =
  | 'xlarge'
  | '2xlarge'
  | '4xlarge'
  | '8xlarge'
  | '12xlarge'
  | '16xlarge'
  | '24xlarge'
  | '48xlarge';

/** g4dn, g5, g6 and g6e share one pattern: one GPU up to 16xlarge, except 12xlarge and 24xlarge (4) and 48xlarge (8). */
function family(
  name: string,
  gpuMemoryMiB: number,
  memoryGiB: Partial<Record<Size, number>>,
): Record<string, GpuInstanceSpec> {
  const gpus: Record<Size, number> = {
    xlarge: 1,
    '2xlarge': 1,
    '4xlarge': 1,
    '8xlarge': 1,
    '12xlarge': 4,
    '16xlarge': 1,
    '24xlarge': 4,
    '48xlarge': 8,
  };
  return Object.fromEntries(
    Object.entries(memoryGiB).map(([size, memory]) => [
      `ml.${name}.${size}`,
      { gpus: gpus[size as Size], memoryGiB: memory, gpuMemoryMiB, localNvmeStorage: true },
    ]),
  );
}

const G5_G6_MEMORY = {
  xlarge: 16,
  '2xlarge': 32,
  '4xlarge': 64,
  '8xlarge': 128,
  '12xlarge': 192,
  '16xlarge': 256,
  '24xlarge': 384,
  '48xlarge': 768,
};

/**
 * GPU instance types synth can check a model against. An instance type not listed here is accepted
 * without checks (and without a volume KMS key, since whether it has local storage is unknown): add
 * it here to get them.
 */
export const GPU_INSTANCE_TYPES: Readonly<Record<string, GpuInstanceSpec>> = {
  // nvidia-smi totals: T4 15,360 MiB; A10G 23,028 MiB; L4 23,034 MiB; L40S 46,068 MiB; A100 40 GB
  // 40,960 MiB; H100 80 GB 81,559 MiB; V100 16 GB 16,384 MiB (AWS instance pages: T4 16 GB, A10G 24
  // GB, L4 24 GB, L40S 48 GB).
  ...family('g4dn', 15_360, {
    xlarge: 16,
    '2xlarge': 32,
    '4xlarge': 64,
    '8xlarge': 128,
    '12xlarge': 192,
    '16xlarge': 256,
  }),
  ...family('g5', 23_028, G5_G6_MEMORY),
  ...family('g6', 23_034, G5_G6_MEMORY),
  ...family('g6e', 46_068, {
    xlarge: 32,
    '2xlarge': 64,
    '4xlarge': 128,
    '8xlarge': 256,
    '12xlarge': 384,
    '16xlarge': 512,
    '24xlarge': 768,
    '48xlarge': 1536,
  }),
  'ml.p4d.24xlarge': { gpus: 8, memoryGiB: 1152, gpuMemoryMiB: 40_960, localNvmeStorage: true },
  'ml.p5.48xlarge': { gpus: 8, memoryGiB: 2048, gpuMemoryMiB: 81_559, localNvmeStorage: true },
  // EBS-only instance types: the endpoint config can encrypt their volumes with a customer-managed
  // key.
  'ml.p3.2xlarge': { gpus: 1, memoryGiB: 61, gpuMemoryMiB: 16_384, localNvmeStorage: false },
  'ml.p3.8xlarge': { gpus: 4, memoryGiB: 244, gpuMemoryMiB: 16_384, localNvmeStorage: false },
  'ml.p3.16xlarge': { gpus: 8, memoryGiB: 488, gpuMemoryMiB: 16_384, localNvmeStorage: false },
};

/** Whether an endpoint config may name a KMS key for the volumes of this instance type (known EBS-only types). */
export function acceptsVolumeKmsKey(instanceType: string): boolean {
  return GPU_INSTANCE_TYPES[instanceType]?.localNvmeStorage === false;
}

function smallestWith(instanceType: string, gpus: number): string | undefined {
  const familyPrefix = instanceType.split('.').slice(0, 2).join('.');
  return Object.entries(GPU_INSTANCE_TYPES)
    .filter(([name, spec]) => name.startsWith(`${familyPrefix}.`) && spec.gpus >= gpus)
    .sort(([, a], [, b]) => a.gpus - b.gpus || a.memoryGiB - b.memoryGiB)[0]?.[0];
}

/**
 * Fails synth when one copy of the model cannot fit on one instance of its type: more GPUs or more
 * memory per copy than the instance has. SageMaker would otherwise accept the stack and leave the
 * component without copies. Unknown instance types pass.
 */
export function verifyModelFitsInstance(modelId: string, model: ModelConfig): void {
  const spec = GPU_INSTANCE_TYPES[model.instanceType];
  if (!spec) return;
  if (model.acceleratorsPerCopy > spec.gpus) {
    const bigger = smallestWith(model.instanceType, model.acceleratorsPerCopy);
    const example = bigger
      ? ` (for example ${bigger}, ${GPU_INSTANCE_TYPES[bigger]?.gpus} GPUs)`
      : '';
    throw new ConfigError(
      `Model "${modelId}": acceleratorsPerCopy is ${model.acceleratorsPerCopy} but ${model.instanceType} has ` +
        `${spec.gpus} GPU${spec.gpus === 1 ? '' : 's'}. Lower models.${modelId}.acceleratorsPerCopy or choose an ` +
        `instance type with at least ${model.acceleratorsPerCopy} GPUs${example}.`,
    );
  }
  const instanceMiB = spec.memoryGiB * 1024;
  if (model.memoryMiBPerCopy > instanceMiB) {
    throw new ConfigError(
      `Model "${modelId}": memoryMiBPerCopy is ${model.memoryMiBPerCopy} but ${model.instanceType} has ` +
        `${instanceMiB} MiB of memory. Lower models.${modelId}.memoryMiBPerCopy or choose a larger instance type.`,
    );
  }
  // Autoscaling may ask for maxCopies; SageMaker places a copy only where an instance has its GPUs
  // and memory free, and the endpoint has at most instanceCount.max instances: copies beyond that
  // never start, and the component stays in Updating while autoscaling waits for them.
  const copiesPerInstance = Math.min(
    Math.floor(spec.gpus / model.acceleratorsPerCopy),
    Math.floor(instanceMiB / model.memoryMiBPerCopy),
  );
  const placeable = copiesPerInstance * model.instanceCount.max;
  if (model.maxCopies > placeable) {
    throw new ConfigError(
      `Model "${modelId}": maxCopies is ${model.maxCopies} but at most ${placeable} copies fit on ` +
        `${model.instanceCount.max} x ${model.instanceType} (${copiesPerInstance} per instance). Lower ` +
        `models.${modelId}.maxCopies to ${placeable} or raise models.${modelId}.instanceCount.max.`,
    );
  }
}

const MIB = 1024 * 1024;
/** bf16 weights, KV cache and LoRA slots: 2 bytes a number. */
const BYTES_PER_VALUE = 2;
/**
 * What vLLM keeps on each GPU besides weights, KV cache and adapter slots: activations of a prefill
 * chunk, CUDA graphs, the CUDA context and NCCL buffers. vLLM measures it at start (its memory
 * profiling) and gives the KV cache what is left of `gpu_memory_utilization`; 2 GiB per GPU is an
 * estimate, not measured here.
 */
const RUNTIME_RESERVE_MIB_PER_GPU = 2_048;

export interface GpuMemoryBudget {
  /** All GPUs of one copy x `gpuMemoryUtilization`. */
  usableMiB: number;
  weightsMiB: number;
  loraSlotsMiB: number;
  runtimeReserveMiB: number;
  /** What is left for the KV cache, and what the configuration needs. */
  kvCacheMiB: number;
  kvNeededMiB: number;
  kvBytesPerToken: number;
  kvTokensNeeded: number;
}

/**
 * The GPU memory one copy needs, as vLLM lays it out: bf16 weights (split over the copy's GPUs by
 * tensor parallelism); `max_loras` adapter slots of `max_lora_rank` for every module vLLM wraps for
 * LoRA (it allocates them for all LoRA-capable modules, whatever an adapter targets); the runtime
 * reserve; and a KV cache of 2 (K and V) x layers x KV heads x head dim x 2 bytes per token, which
 * must hold one full-context sequence (vLLM refuses to start otherwise: "max seq len ... is larger
 * than the maximum number of tokens that can be stored in KV cache") and `sequencesPerCopy`
 * sequences of `kvTokensPerSequence` (else vLLM preempts and the throughput the cost model assumes
 * is not reached). `undefined` when the model or instance lacks the figures.
 */
export function gpuMemoryBudget(
  model: ModelConfig,
  fineTuning: FineTuningConfig,
): GpuMemoryBudget | undefined {
  const spec = GPU_INSTANCE_TYPES[model.instanceType];
  const arch = model.architecture;
  if (!spec || !arch || model.parameters === undefined) return undefined;
  const gpus = model.acceleratorsPerCopy;
  const usableMiB = gpus * spec.gpuMemoryMiB * model.serving.gpuMemoryUtilization;
  const weightsMiB = (model.parameters * BYTES_PER_VALUE) / MIB;
  const qOut = arch.attentionHeads * arch.headDim;
  const kvOut = arch.keyValueHeads * arch.headDim;
  const h = arch.hiddenSize;
  const i = arch.intermediateSize;
  const moduleSizes: Record<(typeof LORA_MODULES)[number], number> = {
    q_proj: h + qOut,
    k_proj: h + kvOut,
    v_proj: h + kvOut,
    o_proj: qOut + h,
    gate_proj: h + i,
    up_proj: h + i,
    down_proj: i + h,
  };
  const perRank = LORA_MODULES.reduce((sum, m) => sum + moduleSizes[m], 0);
  const maxRank = Math.max(...fineTuning.lora.ranks);
  const loraSlotsMiB =
    (fineTuning.serving.maxActiveAdapters * maxRank * perRank * arch.layers * BYTES_PER_VALUE) /
    MIB;
  const runtimeReserveMiB = gpus * RUNTIME_RESERVE_MIB_PER_GPU;
  const kvBytesPerToken = 2 * arch.layers * arch.keyValueHeads * arch.headDim * BYTES_PER_VALUE;
  const kvTokensNeeded = Math.max(
    model.contextWindow,
    model.serving.sequencesPerCopy * model.serving.kvTokensPerSequence,
  );
  return {
    usableMiB,
    weightsMiB,
    loraSlotsMiB,
    runtimeReserveMiB,
    kvCacheMiB: usableMiB - weightsMiB - loraSlotsMiB - runtimeReserveMiB,
    kvNeededMiB: (kvTokensNeeded * kvBytesPerToken) / MIB,
    kvBytesPerToken,
    kvTokensNeeded,
  };
}

const gib = (mib: number) => `${(mib / 1024).toFixed(1)} GiB`;

/**
 * Fails synth when one copy cannot hold its weights, adapter slots and the KV cache its context and
 * density need in its GPUs' memory: SageMaker would accept the stack and the container would never
 * become healthy (the stack rolls back after the hour-long startup timeout). The message names each
 * figure and what to change.
 */
export function verifyGpuMemory(
  modelId: string,
  model: ModelConfig,
  fineTuning: FineTuningConfig,
): void {
  const budget = gpuMemoryBudget(model, fineTuning);
  if (!budget || budget.kvCacheMiB >= budget.kvNeededMiB) return;
  const kvTokensAvailable = Math.max(
    0,
    Math.floor((budget.kvCacheMiB * MIB) / budget.kvBytesPerToken),
  );
  const spec = GPU_INSTANCE_TYPES[model.instanceType] as GpuInstanceSpec;
  throw new ConfigError(
    `Model "${modelId}" does not fit the GPU memory of ${model.instanceType}: ${model.acceleratorsPerCopy} x ` +
      `${gib(spec.gpuMemoryMiB)} x gpuMemoryUtilization ${model.serving.gpuMemoryUtilization} = ${gib(budget.usableMiB)}; ` +
      `weights ${gib(budget.weightsMiB)}, ${fineTuning.serving.maxActiveAdapters} LoRA slots at rank ` +
      `${Math.max(...fineTuning.lora.ranks)} ${gib(budget.loraSlotsMiB)}, runtime reserve ${gib(budget.runtimeReserveMiB)} ` +
      `leave ${gib(Math.max(0, budget.kvCacheMiB))} of KV cache (${kvTokensAvailable} tokens), but it needs ` +
      `${gib(budget.kvNeededMiB)} (${budget.kvTokensNeeded} tokens: max(contextWindow ${model.contextWindow}, ` +
      `serving.sequencesPerCopy ${model.serving.sequencesPerCopy} x kvTokensPerSequence ${model.serving.kvTokensPerSequence})). ` +
      `Lower models.${modelId}.contextWindow or serving.sequencesPerCopy, lower fineTuning.serving.maxActiveAdapters ` +
      'or the highest of fineTuning.lora.ranks, raise acceleratorsPerCopy, or choose an instance type with more GPU memory.',
  );
}

/** vLLM's default share of GPU memory (`gpu_memory_utilization`), which a speech model's server keeps. */
export const SPEECH_GPU_MEMORY_UTILIZATION = 0.9;
/**
 * What a Whisper copy needs beside its weights and the runtime: the encoder's activations for a
 * batch of 30-second windows and the decoder's self- and cross-attention caches (448 tokens, 1,500
 * encoder frames per window). A deliberate allowance, not a derivation: no measurement on a GPU yet.
 */
const SPEECH_WORKING_MIB = 4_096;

/**
 * The inference components of a speech model's endpoint, one GPU each: the transcription component
 * always, and a translation component when the model translates (vLLM's container serves one
 * `/invocations` handler, speech-endpoint.ts).
 */
export function speechComponentCount(model: Pick<SpeechModelConfig, 'translates'>): number {
  return model.translates ? 2 : 1;
}

/**
 * Instances the speech endpoint needs for one copy of each of its components (one GPU a copy): what
 * it starts with and keeps when it does not scale to zero, and what the idle cost counts.
 */
export function speechInstancesForOneCopyEach(
  model: Pick<SpeechModelConfig, 'translates' | 'instanceType'>,
): number {
  const gpus = GPU_INSTANCE_TYPES[model.instanceType]?.gpus ?? 1;
  return Math.ceil(speechComponentCount(model) / gpus);
}

/**
 * Fails synth when a speech-to-text model's fp16 weights, the runtime reserve and a working
 * allowance do not fit one GPU of its instance type (Whisper runs on one GPU: each of the speech
 * endpoint's components takes one, speech-endpoint.ts), or when `instanceCount.max` instances have
 * fewer GPUs than one copy of each component needs (a translating model's second component would
 * never be placed).
 */
export function verifySpeechModelFits(modelId: string, model: SpeechModelConfig): void {
  const spec = GPU_INSTANCE_TYPES[model.instanceType];
  if (!spec) return;
  const neededInstances = speechInstancesForOneCopyEach(model);
  if (model.instanceCount.max < neededInstances) {
    throw new ConfigError(
      `Speech model "${modelId}" has ${speechComponentCount(model)} inference components (transcription and ` +
        `translation), one GPU each, but speechModels.${modelId}.instanceCount.max ${model.instanceCount.max} ` +
        `x ${spec.gpus} GPU${spec.gpus === 1 ? '' : 's'} of ${model.instanceType} cannot hold them: raise it to ` +
        `at least ${neededInstances}, or set translates: false.`,
    );
  }
  const usableMiB = spec.gpuMemoryMiB * SPEECH_GPU_MEMORY_UTILIZATION;
  const weightsMiB = (model.parameters * BYTES_PER_VALUE) / MIB;
  const neededMiB = weightsMiB + RUNTIME_RESERVE_MIB_PER_GPU + SPEECH_WORKING_MIB;
  if (neededMiB <= usableMiB) return;
  throw new ConfigError(
    `Speech model "${modelId}" does not fit one GPU of ${model.instanceType}: ${gib(spec.gpuMemoryMiB)} x ` +
      `${SPEECH_GPU_MEMORY_UTILIZATION} = ${gib(usableMiB)}, but its fp16 weights take ${gib(weightsMiB)}, the runtime ` +
      `${gib(RUNTIME_RESERVE_MIB_PER_GPU)} and its working memory ${gib(SPEECH_WORKING_MIB)}. Choose an instance type ` +
      `with more GPU memory for speechModels.${modelId}.instanceType.`,
  );
}
