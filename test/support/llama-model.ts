import { loadConfig } from '../../lib/config/load';
import type { ModelConfig, TierlineConfig } from '../../lib/config/schema';

/**
 * Llama 3.1 8B as an operator would add it to the catalog (the defaults are ungated Qwen3 models):
 * gated weights, so it names a token in Secrets Manager; Meta's config.json dimensions; the Llama 3
 * tokenizer. For the tests of what is Llama's own (its chat template, its adapters' shapes).
 */
export const LLAMA_8B_ID = 'llama-3.1-8b';

export const LLAMA_8B_MODEL = {
  displayName: 'Llama 3.1 8B',
  ownedBy: 'Meta',
  contextWindow: 32_768,
  maxOutputTokens: 8_192,
  containerImage:
    '763104351884.dkr.ecr.${AWS::Region}.amazonaws.com/djl-inference:0.36.0-lmi18.0.0-cu128',
  weights: 'meta-llama/Llama-3.1-8B-Instruct',
  hfTokenSecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:hf-token-AbCdEf',
  tokenizer: 'llama-3',
  instanceType: 'ml.g6e.xlarge',
  instanceCount: { min: 1, max: 1 },
  acceleratorsPerCopy: 1,
  memoryMiBPerCopy: 16_384,
  maxCopies: 1,
  parameters: 8_030_261_248,
  architecture: {
    hiddenSize: 4096,
    intermediateSize: 14_336,
    layers: 32,
    attentionHeads: 32,
    keyValueHeads: 8,
    headDim: 128,
  },
  trainingInstanceType: 'ml.g6e.2xlarge',
} satisfies Partial<ModelConfig>;

/** The environment's config with Llama 3.1 8B in the catalog (not offered to any tier). */
export function configWithLlama(env = 'dev'): TierlineConfig {
  return loadConfig({ env, overrides: { models: { [LLAMA_8B_ID]: LLAMA_8B_MODEL } } });
}
