import type { AdapterArchive } from '../../../lambda/fine-tuning/adapter-archive';
import { checkAdapter, moduleDimensions } from '../../../lambda/fine-tuning/adapter-checks';
import { type AdapterOptions, adapterFiles, safetensors, tensorsOf } from '../../support/adapters';
import { configWithLlama, LLAMA_8B_ID } from '../../support/llama-model';

const config = configWithLlama();
const LLAMA_8B = LLAMA_8B_ID;
const QWEN = 'qwen3-32b';
const architectureOf = (id: string) => {
  const a = config.models[id]?.architecture;
  if (!a) throw new Error(`${id} has no architecture`);
  return a;
};

/** What readAdapterArchive would return for the files `adapterFiles` builds. */
function archive(
  options: Partial<AdapterOptions> = {},
  configPatch: Record<string, unknown> = {},
): AdapterArchive {
  const files = adapterFiles({ architecture: architectureOf(LLAMA_8B), ...options });
  return {
    format: 'zip',
    config: { ...files.config, ...configPatch },
    tensors: tensorsOf(files.weights),
  };
}

describe('checking an adapter against its base model', () => {
  it('accepts a PEFT adapter of the right shape and reports its settings', () => {
    expect(checkAdapter(archive(), LLAMA_8B, config)).toEqual({
      baseModel: LLAMA_8B,
      rank: 16,
      alpha: 32,
      targetModules: ['q_proj', 'v_proj'],
      tensorCount: 4,
    });
  });

  it.each([8, 16, 32, 64])('accepts rank %i on every module', (rank) => {
    const modules = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];
    expect(checkAdapter(archive({ rank, modules, layers: 32 }), LLAMA_8B, config).rank).toBe(rank);
  });

  it('knows that Qwen3 attention is wider than its hidden size', () => {
    expect(moduleDimensions(architectureOf(QWEN)).q_proj).toEqual([5120, 8192]);
    expect(moduleDimensions(architectureOf(QWEN)).o_proj).toEqual([8192, 5120]);
    const qwen = adapterFiles({
      architecture: architectureOf(QWEN),
      modules: ['q_proj', 'o_proj'],
      baseModel: 'Qwen/Qwen3-32B',
    });
    const header = tensorsOf(qwen.weights);
    expect(
      checkAdapter({ format: 'tar.gz', config: qwen.config, tensors: header }, QWEN, config).rank,
    ).toBe(16);
    // The same adapter does not fit Llama 3.1 8B: both the name and the shapes say so.
    expect(() =>
      checkAdapter({ format: 'tar.gz', config: qwen.config, tensors: header }, LLAMA_8B, config),
    ).toThrow(
      /trained on Qwen\/Qwen3-32B, not on llama-3\.1-8b.*q_proj\.lora_A has shape \[16, 5120\], expected \[16, 4096\]/,
    );
  });

  it.each([
    ['the catalog id', LLAMA_8B],
    ['the weights id', 'meta-llama/Llama-3.1-8B-Instruct'],
    ['a local path ending in the weights name', '/models/llama-3.1-8b-instruct'],
  ])('accepts the base model named by %s', (_what, name) => {
    expect(checkAdapter(archive({ baseModel: name }), LLAMA_8B, config).baseModel).toBe(LLAMA_8B);
  });

  it.each([
    [{ r: 12 }, 'rank r must be one of 8, 16, 32, 64 (got 12)'],
    [{ r: 128 }, 'rank r must be one of 8, 16, 32, 64 (got 128)'],
    [{ lora_alpha: 256 }, 'lora_alpha must be between 1 and 128 (got 256)'],
    [{ peft_type: 'IA3' }, 'peft_type must be "LORA" (got "IA3")'],
    [{ target_modules: '.*proj' }, 'target_modules must be a list of module names'],
    [{ target_modules: ['q_proj', 'v_proj', 'lm_head'] }, 'target_modules lm_head not accepted'],
    [{ use_dora: true }, 'DoRA adapters (use_dora) cannot be served'],
    [{ modules_to_save: ['lm_head'] }, 'modules_to_save (lm_head) cannot be served'],
    [{ rank_pattern: { q_proj: 8 } }, 'rank_pattern (per-module ranks) cannot be served'],
    [{ bias: 'all' }, 'bias must be "none"'],
    [
      { base_model_name_or_path: undefined },
      'base_model_name_or_path is missing: it must name llama-3.1-8b',
    ],
    [
      { base_model_name_or_path: 'meta-llama/Llama-3.3-70B-Instruct' },
      'trained on meta-llama/Llama-3.3-70B-Instruct, not on llama-3.1-8b',
    ],
  ])('refuses config %j, saying %s', (patch, message) => {
    expect(() => checkAdapter(archive({}, patch), LLAMA_8B, config)).toThrow(message);
  });

  it('refuses tensors whose rank disagrees with the config', () => {
    expect(() => checkAdapter(archive({ rank: 32 }, { r: 16 }), LLAMA_8B, config)).toThrow(
      /self_attn\.q_proj\.lora_A has shape \[32, 4096\], expected \[16, 4096\] \(rank 16 on the base model's q_proj\)/,
    );
  });

  it('refuses tensors of a model with more layers, a module not targeted, and unpaired or foreign tensors', () => {
    const bad = archive({ layers: 1 });
    bad.tensors['base_model.model.model.layers.40.self_attn.q_proj.lora_A.weight'] = {
      dtype: 'BF16',
      shape: [16, 4096],
    };
    bad.tensors['base_model.model.model.layers.0.mlp.down_proj.lora_A.weight'] = {
      dtype: 'BF16',
      shape: [16, 14336],
    };
    bad.tensors['base_model.model.lm_head.weight'] = { dtype: 'BF16', shape: [128256, 4096] };
    bad.tensors['base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight'] = {
      dtype: 'I8',
      shape: [16, 4096],
    };
    let message = '';
    try {
      checkAdapter(bad, LLAMA_8B, config);
    } catch (error) {
      message = (error as Error).message;
      expect(error).toMatchObject({ status: 400, code: 'invalid_adapter', param: 'input_file_id' });
    }
    expect(message).toContain(
      'layers.40.self_attn.q_proj.lora_A: the base model has 32 layers (0-31)',
    );
    expect(message).toContain('layers.0.mlp.down_proj.lora_A: down_proj is not in target_modules');
    expect(message).toContain(
      'tensor base_model.model.lm_head.weight is not a LoRA weight of a decoder layer',
    );
    expect(message).toContain('layers.0.self_attn.k_proj.lora_A is I8; use F16, BF16, F32');
    expect(message).toContain('layers.0.mlp.down_proj has lora_A but not lora_B');
  });

  it('refuses an empty safetensors file and a base model without adapters', () => {
    const header = safetensors({});
    const empty: AdapterArchive = { ...archive(), tensors: tensorsOf(header) };
    expect(() => checkAdapter(empty, LLAMA_8B, config)).toThrow(
      'adapter_model.safetensors holds no tensors',
    );
    expect(() => checkAdapter(archive(), 'gpt-4o', config)).toThrow(
      'base model gpt-4o does not exist',
    );
  });

  it('names at most ten problems and counts the rest', () => {
    const wrong = archive({ rank: 8, layers: 8, modules: ['q_proj'] }, { r: 16 });
    expect(() => checkAdapter(wrong, LLAMA_8B, config)).toThrow(/; and 6 more\.$/);
  });
});
