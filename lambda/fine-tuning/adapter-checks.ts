import type { ModelArchitecture, TierlineConfig } from '../../lib/config/schema';
import { ownValue } from '../own';
import {
  type AdapterArchive,
  CONFIG_FILE,
  InvalidAdapterError,
  type TensorInfo,
  WEIGHTS_FILE,
} from './adapter-archive';

/**
 * Checks a PEFT LoRA adapter against the base model it is meant for and against the config, before
 * anything is deployed: vLLM answers an unusable adapter only when it is first requested, and
 * serves the base model silently for one it cannot find. Every problem found is named in one error
 * (the first ten of them).
 */

export interface CheckedAdapter {
  baseModel: string;
  rank: number;
  alpha: number;
  targetModules: string[];
  /** Tensors of lora_A/lora_B pairs found. */
  tensorCount: number;
}

const MAX_PROBLEMS_SHOWN = 10;
const DTYPES = ['F16', 'BF16', 'F32'];
/** PEFT's tensor names for a Llama-style decoder: base_model.model.model.layers.N.(self_attn|mlp).MODULE.lora_(A|B).weight */
const TENSOR_NAME =
  /^base_model\.model\.model\.layers\.(\d+)\.(self_attn|mlp)\.([a-z_]+)\.lora_(A|B)\.weight$/;
const PARENT: Record<string, 'self_attn' | 'mlp'> = {
  q_proj: 'self_attn',
  k_proj: 'self_attn',
  v_proj: 'self_attn',
  o_proj: 'self_attn',
  gate_proj: 'mlp',
  up_proj: 'mlp',
  down_proj: 'mlp',
};

/** [in, out] features of each adaptable module of a Llama-style layer. */
export function moduleDimensions(a: ModelArchitecture): Record<string, [number, number]> {
  const q = a.attentionHeads * a.headDim;
  const kv = a.keyValueHeads * a.headDim;
  return {
    q_proj: [a.hiddenSize, q],
    k_proj: [a.hiddenSize, kv],
    v_proj: [a.hiddenSize, kv],
    o_proj: [q, a.hiddenSize],
    gate_proj: [a.hiddenSize, a.intermediateSize],
    up_proj: [a.hiddenSize, a.intermediateSize],
    down_proj: [a.intermediateSize, a.hiddenSize],
  };
}

const lastSegment = (path: string) =>
  (path.replace(/\/+$/, '').split('/').at(-1) ?? path).toLowerCase();

/** An adapter names its base by the catalog id, the weights' id, or a local folder with the weights' name. */
function namesBaseModel(name: string, modelId: string, weights: string): boolean {
  const lower = name.toLowerCase();
  return (
    lower === modelId ||
    lower === weights.toLowerCase() ||
    lastSegment(name) === lastSegment(weights)
  );
}

function same(shape: number[], expected: number[]): boolean {
  return shape.length === expected.length && shape.every((d, i) => d === expected[i]);
}

function checkConfig(
  config: Record<string, unknown>,
  baseModelId: string,
  tierline: TierlineConfig,
  problems: string[],
) {
  const lora = tierline.fineTuning.lora;
  const model = ownValue(tierline.models, baseModelId);
  if (config.peft_type !== 'LORA')
    problems.push(
      `${CONFIG_FILE}: peft_type must be "LORA" (got ${JSON.stringify(config.peft_type)})`,
    );
  const rank = config.r;
  if (typeof rank !== 'number' || !lora.ranks.includes(rank)) {
    problems.push(
      `${CONFIG_FILE}: rank r must be one of ${lora.ranks.join(', ')} (got ${JSON.stringify(rank)})`,
    );
  }
  const alpha = config.lora_alpha;
  if (typeof alpha !== 'number' || alpha < lora.alpha.min || alpha > lora.alpha.max) {
    problems.push(
      `${CONFIG_FILE}: lora_alpha must be between ${lora.alpha.min} and ${lora.alpha.max} (got ${JSON.stringify(alpha)})`,
    );
  }
  const modules = config.target_modules;
  if (
    !Array.isArray(modules) ||
    modules.length === 0 ||
    !modules.every((m) => typeof m === 'string')
  ) {
    problems.push(
      `${CONFIG_FILE}: target_modules must be a list of module names (a regular expression is not accepted)`,
    );
  } else {
    const refused = modules.filter((m) => !(lora.targetModules as readonly string[]).includes(m));
    if (refused.length > 0) {
      problems.push(
        `${CONFIG_FILE}: target_modules ${refused.join(', ')} not accepted (allowed: ${lora.targetModules.join(', ')})`,
      );
    }
  }
  if (config.use_dora === true)
    problems.push(`${CONFIG_FILE}: DoRA adapters (use_dora) cannot be served`);
  if (Array.isArray(config.modules_to_save) && config.modules_to_save.length > 0) {
    problems.push(
      `${CONFIG_FILE}: modules_to_save (${config.modules_to_save.join(', ')}) cannot be served: adapt with LoRA only`,
    );
  }
  for (const field of ['rank_pattern', 'alpha_pattern']) {
    const value = config[field];
    if (value && typeof value === 'object' && Object.keys(value).length > 0) {
      problems.push(
        `${CONFIG_FILE}: ${field} (per-module ranks) cannot be served: use one rank for every module`,
      );
    }
  }
  if (config.bias !== undefined && config.bias !== 'none')
    problems.push(`${CONFIG_FILE}: bias must be "none" (got ${JSON.stringify(config.bias)})`);
  const base = config.base_model_name_or_path;
  if (typeof base !== 'string' || base === '') {
    problems.push(
      `${CONFIG_FILE}: base_model_name_or_path is missing: it must name ${baseModelId}`,
    );
  } else if (model && !namesBaseModel(base, baseModelId, model.weights)) {
    problems.push(
      `${CONFIG_FILE}: the adapter was trained on ${base}, not on ${baseModelId} (${model.weights})`,
    );
  }
}

function checkTensors(
  tensors: Record<string, TensorInfo>,
  config: Record<string, unknown>,
  architecture: ModelArchitecture,
  problems: string[],
): number {
  const dims = moduleDimensions(architecture);
  const rank = typeof config.r === 'number' ? config.r : undefined;
  const modules = Array.isArray(config.target_modules)
    ? (config.target_modules as string[])
    : undefined;
  const halves = new Map<string, Set<string>>();
  for (const [name, tensor] of Object.entries(tensors)) {
    const match = TENSOR_NAME.exec(name);
    if (!match) {
      problems.push(`${WEIGHTS_FILE}: tensor ${name} is not a LoRA weight of a decoder layer`);
      continue;
    }
    const [, layerText = '', parent, module = '', half = ''] = match;
    const layer = Number(layerText);
    const where = `layers.${layer}.${parent}.${module}.lora_${half}`;
    if (layer >= architecture.layers) {
      problems.push(
        `${WEIGHTS_FILE}: ${where}: the base model has ${architecture.layers} layers (0-${architecture.layers - 1})`,
      );
      continue;
    }
    const moduleDims = ownValue(dims, module);
    if (!moduleDims || ownValue(PARENT, module) !== parent) {
      problems.push(
        `${WEIGHTS_FILE}: ${where}: ${parent}.${module} is not a module of the base model`,
      );
      continue;
    }
    if (modules && !modules.includes(module))
      problems.push(`${WEIGHTS_FILE}: ${where}: ${module} is not in target_modules`);
    if (!DTYPES.includes(tensor.dtype))
      problems.push(`${WEIGHTS_FILE}: ${where} is ${tensor.dtype}; use ${DTYPES.join(', ')}`);
    if (rank !== undefined) {
      const [inFeatures, outFeatures] = moduleDims;
      const expected = half === 'A' ? [rank, inFeatures] : [outFeatures, rank];
      if (!same(tensor.shape, expected)) {
        problems.push(
          `${WEIGHTS_FILE}: ${where} has shape [${tensor.shape.join(', ')}], expected [${expected.join(', ')}] (rank ${rank} on the base model's ${module})`,
        );
      }
    }
    const key = `layers.${layer}.${parent}.${module}`;
    halves.set(key, (halves.get(key) ?? new Set()).add(half));
  }
  for (const [key, found] of halves) {
    if (found.size < 2)
      problems.push(
        `${WEIGHTS_FILE}: ${key} has lora_${[...found][0]} but not lora_${found.has('A') ? 'B' : 'A'}`,
      );
  }
  if (Object.keys(tensors).length === 0) problems.push(`${WEIGHTS_FILE} holds no tensors`);
  return halves.size;
}

/** The adapter's settings when it fits `baseModelId`; otherwise an InvalidAdapterError naming every problem. */
export function checkAdapter(
  archive: AdapterArchive,
  baseModelId: string,
  config: TierlineConfig,
): CheckedAdapter {
  const model = ownValue(config.models, baseModelId);
  if (!model) throw new InvalidAdapterError(`base model ${baseModelId} does not exist`);
  if (!model.architecture)
    throw new InvalidAdapterError(`base model ${baseModelId} does not take LoRA adapters`);
  const problems: string[] = [];
  checkConfig(archive.config, baseModelId, config, problems);
  const pairs = checkTensors(archive.tensors, archive.config, model.architecture, problems);
  if (problems.length > 0) {
    const shown = problems.slice(0, MAX_PROBLEMS_SHOWN).join('; ');
    const more =
      problems.length > MAX_PROBLEMS_SHOWN
        ? `; and ${problems.length - MAX_PROBLEMS_SHOWN} more`
        : '';
    throw new InvalidAdapterError(
      `The adapter cannot be served on ${baseModelId}: ${shown}${more}.`,
    );
  }
  return {
    baseModel: baseModelId,
    rank: archive.config.r as number,
    alpha: archive.config.lora_alpha as number,
    targetModules: archive.config.target_modules as string[],
    tensorCount: pairs,
  };
}
