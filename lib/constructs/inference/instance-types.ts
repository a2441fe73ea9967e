import { ConfigError } from '../../config/load';
import type { ModelConfig } from '../../config/schema';

/** What synth needs to know about a SageMaker GPU instance type. */
export interface GpuInstanceSpec {
  /** NVIDIA GPUs on one instance. */
  readonly gpus: number;
  /** Host memory of one instance, in GiB. */
  readonly memoryGiB: number;
  /**
   * The instance has local NVMe storage (encrypted by the instance's hardware module). SageMaker rejects a
   * `KmsKeyId` in an endpoint config for such instance types ("If you specify a value for KmsKeyId when using
   * any nitro-based instances with local storage, the call to CreateEndpointConfig fails").
   */
  readonly localNvmeStorage: boolean;
}

type Size = 'xlarge' | '2xlarge' | '4xlarge' | '8xlarge' | '12xlarge' | '16xlarge' | '24xlarge' | '48xlarge';

/** g4dn, g5, g6 and g6e share one pattern: one GPU up to 16xlarge, except 12xlarge and 24xlarge (4) and 48xlarge (8). */
function family(name: string, memoryGiB: Partial<Record<Size, number>>): Record<string, GpuInstanceSpec> {
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
      { gpus: gpus[size as Size], memoryGiB: memory, localNvmeStorage: true },
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
 * GPU instance types synth can check a model against. An instance type not listed here is accepted without
 * checks (and without a volume KMS key, since whether it has local storage is unknown): add it here to get them.
 */
export const GPU_INSTANCE_TYPES: Readonly<Record<string, GpuInstanceSpec>> = {
  ...family('g4dn', { xlarge: 16, '2xlarge': 32, '4xlarge': 64, '8xlarge': 128, '12xlarge': 192, '16xlarge': 256 }),
  ...family('g5', G5_G6_MEMORY),
  ...family('g6', G5_G6_MEMORY),
  ...family('g6e', {
    xlarge: 32,
    '2xlarge': 64,
    '4xlarge': 128,
    '8xlarge': 256,
    '12xlarge': 384,
    '16xlarge': 512,
    '24xlarge': 768,
    '48xlarge': 1536,
  }),
  'ml.p4d.24xlarge': { gpus: 8, memoryGiB: 1152, localNvmeStorage: true },
  'ml.p5.48xlarge': { gpus: 8, memoryGiB: 2048, localNvmeStorage: true },
  // EBS-only instance types: the endpoint config can encrypt their volumes with a customer-managed key.
  'ml.p3.2xlarge': { gpus: 1, memoryGiB: 61, localNvmeStorage: false },
  'ml.p3.8xlarge': { gpus: 4, memoryGiB: 244, localNvmeStorage: false },
  'ml.p3.16xlarge': { gpus: 8, memoryGiB: 488, localNvmeStorage: false },
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
 * Fails synth when one copy of the model cannot fit on one instance of its type: more GPUs or more memory per
 * copy than the instance has. SageMaker would otherwise accept the stack and leave the component without
 * copies. Unknown instance types pass.
 */
export function verifyModelFitsInstance(modelId: string, model: ModelConfig): void {
  const spec = GPU_INSTANCE_TYPES[model.instanceType];
  if (!spec) return;
  if (model.acceleratorsPerCopy > spec.gpus) {
    const bigger = smallestWith(model.instanceType, model.acceleratorsPerCopy);
    const example = bigger ? ` (for example ${bigger}, ${GPU_INSTANCE_TYPES[bigger]?.gpus} GPUs)` : '';
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
}
