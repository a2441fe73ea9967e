import { gzipSync } from 'node:zlib';
import { pack as tarPack } from 'tar-stream';
import * as yazl from 'yazl';
import { parseSafetensorsHeader, type TensorInfo } from '../../lambda/fine-tuning/adapter-archive';
import { moduleDimensions } from '../../lambda/fine-tuning/adapter-checks';
import type { ModelArchitecture } from '../../lib/config/schema';

/** A safetensors file with zero-filled tensors: {name: [dtype, shape]}. */
export function safetensors(tensors: Record<string, [string, number[]]>): Buffer {
  // Entries, not assignments: a tensor named `__proto__` stays a key of the header.
  const header: [string, unknown][] = [['__metadata__', { format: 'pt' }]];
  let offset = 0;
  for (const [name, [dtype, shape]] of Object.entries(tensors)) {
    const size = shape.reduce((a, b) => a * b, dtype === 'F32' ? 4 : 2);
    header.push([name, { dtype, shape, data_offsets: [offset, offset + size] }]);
    offset += size;
  }
  const json = Buffer.from(JSON.stringify(Object.fromEntries(header)));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([length, json, Buffer.alloc(offset)]);
}

/** The tensors of a whole safetensors file, as the archive reader finds them. */
export function tensorsOf(file: Buffer): Record<string, TensorInfo> {
  const length = Number(file.readBigUInt64LE(0));
  return parseSafetensorsHeader(file.subarray(8, 8 + length), file.length - 8 - length);
}

export interface AdapterOptions {
  architecture: ModelArchitecture;
  rank?: number;
  alpha?: number;
  modules?: string[];
  /** How many layers get tensors (the default keeps test archives small). */
  layers?: number;
  baseModel?: string;
  dtype?: string;
}

/** A PEFT LoRA adapter's two files, shaped for `architecture`. */
export function adapterFiles(options: AdapterOptions): {
  config: Record<string, unknown>;
  weights: Buffer;
} {
  const rank = options.rank ?? 16;
  const modules = options.modules ?? ['q_proj', 'v_proj'];
  const dims = moduleDimensions(options.architecture);
  const tensors: Record<string, [string, number[]]> = {};
  for (let layer = 0; layer < (options.layers ?? 2); layer++) {
    for (const module of modules) {
      const [inFeatures, outFeatures] = dims[module] ?? [1, 1];
      const parent = ['gate_proj', 'up_proj', 'down_proj'].includes(module) ? 'mlp' : 'self_attn';
      const prefix = `base_model.model.model.layers.${layer}.${parent}.${module}`;
      tensors[`${prefix}.lora_A.weight`] = [options.dtype ?? 'BF16', [rank, inFeatures]];
      tensors[`${prefix}.lora_B.weight`] = [options.dtype ?? 'BF16', [outFeatures, rank]];
    }
  }
  return {
    config: {
      peft_type: 'LORA',
      task_type: 'CAUSAL_LM',
      r: rank,
      lora_alpha: options.alpha ?? 32,
      lora_dropout: 0.05,
      bias: 'none',
      target_modules: modules,
      base_model_name_or_path: options.baseModel ?? 'meta-llama/Llama-3.1-8B-Instruct',
    },
    weights: safetensors(tensors),
  };
}

export type ArchiveEntries = Record<string, Buffer | string>;

export function entriesOf(files: {
  config: Record<string, unknown>;
  weights: Buffer;
}): ArchiveEntries {
  return {
    'adapter_config.json': JSON.stringify(files.config),
    'adapter_model.safetensors': files.weights,
  };
}

export function zipOf(entries: ArchiveEntries): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const [name, data] of Object.entries(entries)) zip.addBuffer(Buffer.from(data), name);
  zip.end();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    zip.outputStream.on('data', (c: Buffer) => chunks.push(c));
    zip.outputStream.on('end', () => resolve(Buffer.concat(chunks)));
    zip.outputStream.on('error', reject);
  });
}

export async function tarGzOf(entries: ArchiveEntries): Promise<Buffer> {
  const pack = tarPack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (c) => chunks.push(c as Buffer));
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  for (const [name, data] of Object.entries(entries)) pack.entry({ name }, Buffer.from(data));
  pack.finalize();
  await done;
  return gzipSync(Buffer.concat(chunks));
}
