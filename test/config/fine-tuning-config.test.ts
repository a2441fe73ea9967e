import { loadConfig } from '../../lib/config/load';

describe('fine-tuning config', () => {
  it('is on for Developer and Enterprise by default, off for Free', () => {
    const { tiers, fineTuning, models } = loadConfig({ env: 'dev' });
    expect([
      tiers.free.lora.allowed,
      tiers.developer.lora.allowed,
      tiers.enterprise.lora.allowed,
    ]).toEqual([false, true, true]);
    expect(fineTuning.training.image).toMatch(/huggingface-pytorch-training:/);
    expect(models['qwen3-8b']?.trainingInstanceType).toBe('ml.g6e.2xlarge');
  });

  it.each([
    [
      { lora: { defaultRank: 12 } },
      /fineTuning\.lora\.defaultRank: defaultRank must be one of ranks/,
    ],
    [
      { lora: { defaultAlpha: 500 } },
      /fineTuning\.lora\.defaultAlpha: defaultAlpha must lie within/,
    ],
    [{ lora: { defaultTargetModules: ['lm_head'] } }, /fineTuning\.lora\.defaultTargetModules\.0/],
    [{ serving: { maxActiveAdapters: 32 } }, /maxActiveAdapters must not exceed maxCachedAdapters/],
    [{ training: { maxRuntimeSeconds: 60 } }, /fineTuning\.training\.maxRuntimeSeconds/],
    [
      { training: { maxSequenceTokens: 16_384, microBatchTokens: 8_192 } },
      /fineTuning\.training\.microBatchTokens: microBatchTokens must be at least maxSequenceTokens/,
    ],
    [
      { training: { maxRuntimeSeconds: 7_200, spot: { enabled: true, maxWaitSeconds: 3_600 } } },
      /fineTuning\.training\.spot\.maxWaitSeconds: spot\.maxWaitSeconds must be at least maxRuntimeSeconds/,
    ],
  ])('refuses %j, naming the field', (fineTuning, message) => {
    expect(() => loadConfig({ env: 'dev', overrides: { fineTuning } })).toThrow(message);
  });

  it('refuses an architecture whose heads do not group evenly', () => {
    expect(() =>
      loadConfig({
        env: 'dev',
        overrides: { models: { 'qwen3-8b': { architecture: { keyValueHeads: 5 } } } },
      }),
    ).toThrow(/models\.qwen3-8b\.architecture\.keyValueHeads: attentionHeads must be a multiple/);
  });
});
