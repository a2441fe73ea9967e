import { Stack } from 'aws-cdk-lib';
import { modelsOfTier } from '../../lambda/inference/models';
import { ConfigError, loadConfig } from '../../lib/config/load';
import { type ModelConfig, targetConcurrencyPerCopy } from '../../lib/config/schema';
import {
  gpuMemoryBudget,
  verifyGpuMemory,
  verifySpeechModelFits,
} from '../../lib/constructs/inference/instance-types';
import { lmiEnvironment } from '../../lib/constructs/inference/lmi-container';
import { synthesize } from '../support/synth';

const dev = loadConfig({ env: 'dev' });
const prod = loadConfig({ env: 'prod' });

/** Llama 3.1 8B as the catalog had it: ml.g5.2xlarge (one 24 GB A10G), 32K context, four rank-64 slots. */
const llama8bOnA10g = loadConfig({
  env: 'dev',
  overrides: {
    models: {
      'llama-8b': {
        displayName: 'Llama 3.1 8B',
        ownedBy: 'Meta',
        contextWindow: 32_768,
        maxOutputTokens: 8_192,
        containerImage: 'image',
        weights: 's3://weights-bucket/llama-3.1-8b/',
        tokenizer: 'llama-3',
        instanceType: 'ml.g5.2xlarge',
        instanceCount: { min: 1, max: 1 },
        acceleratorsPerCopy: 1,
        memoryMiBPerCopy: 16_384,
        maxCopies: 1,
        parameters: 8_030_261_248,
        serving: { sequencesPerCopy: 1, gpuMemoryUtilization: 0.9, kvTokensPerSequence: 2_048 },
        architecture: {
          hiddenSize: 4096,
          intermediateSize: 14_336,
          layers: 32,
          attentionHeads: 32,
          keyValueHeads: 8,
          headDim: 128,
        },
      },
    },
  },
});

describe('GPU memory at synth', () => {
  const llama = llama8bOnA10g.models['llama-8b'] as ModelConfig;

  it('refuses Llama 3.1 8B on ml.g5.2xlarge with a 32K context and 4 rank-64 adapter slots, naming the numbers', () => {
    const budget = gpuMemoryBudget(llama, llama8bOnA10g.fineTuning);
    // 23,028 MiB x 0.9 = 20,725 MiB; weights 15,317 MiB; 4 slots x rank 64 x 81,920 x 32 layers x 2
    // B = 1,280 MiB; reserve 2,048 MiB: 2,080 MiB of KV cache against 32,768 tokens x 128 KiB =
    // 4,096 MiB.
    expect(budget?.weightsMiB).toBeCloseTo(15_316.5, 0);
    expect(budget?.loraSlotsMiB).toBe(1_280);
    expect(budget?.kvBytesPerToken).toBe(131_072);
    expect(budget?.kvNeededMiB).toBe(4_096);
    expect(budget?.kvCacheMiB).toBeCloseTo(2_080.7, 0);

    expect(() => verifyGpuMemory('llama-8b', llama, llama8bOnA10g.fineTuning)).toThrow(ConfigError);
    expect(() => verifyGpuMemory('llama-8b', llama, llama8bOnA10g.fineTuning)).toThrow(
      /llama-8b.*ml\.g5\.2xlarge.*weights 15\.0 GiB, 4 LoRA slots at rank 64 1\.3 GiB.*leave 2\.0 GiB of KV cache \(16645 tokens\), but it needs 4\.0 GiB \(32768 tokens.*Lower models\.llama-8b\.contextWindow/,
    );
  });

  it('fails synth of the stack, not only the function', () => {
    const overrides = { models: { 'qwen3-8b': { instanceType: 'ml.g5.2xlarge' } } };

    expect(() => synthesize({ env: 'dev', overrides })).toThrow(
      /"qwen3-8b" does not fit the GPU memory of ml\.g5\.2xlarge/,
    );
  });

  it('accepts it with a 16K context and two rank-16 slots', () => {
    const smaller = { ...llama, contextWindow: 16_384 };
    const fineTuning = {
      ...llama8bOnA10g.fineTuning,
      lora: { ...llama8bOnA10g.fineTuning.lora, ranks: [8, 16], defaultRank: 16 },
      serving: { maxActiveAdapters: 2, maxCachedAdapters: 16 },
    };

    expect(() => verifyGpuMemory('llama-8b', smaller, fineTuning)).not.toThrow();
  });

  it.each(Object.entries(prod.models))('fits the default %s on its instance', (id, model) => {
    expect(() => verifyGpuMemory(id, model, prod.fineTuning)).not.toThrow();
    expect(gpuMemoryBudget(model, prod.fineTuning)).toBeDefined();
  });
});

describe('speech models: GPU memory at synth', () => {
  it.each(Object.entries(prod.speechModels))('fits the default %s on one GPU', (id, model) => {
    expect(() => verifySpeechModelFits(id, model)).not.toThrow();
  });

  it('fails synth of a speech model too large for its GPU, naming the numbers', () => {
    // A hypothetical 10B-parameter speech model on a 24 GB A10G: 18.6 GiB of fp16 weights, 2 GiB of
    // runtime and 4 GiB of working memory against 22.5 x 0.9 = 20.2 GiB.
    const overrides = {
      speechModels: { 'whisper-large-v3': { parameters: 10_000_000_000 } },
    };
    expect(() => synthesize({ env: 'dev', overrides })).toThrow(
      /Speech model "whisper-large-v3" does not fit one GPU of ml\.g5\.xlarge: 22\.5 GiB x 0\.9 = 20\.2 GiB, but its fp16 weights take 18\.6 GiB/,
    );
  });
});

describe('one serving density', () => {
  it.each(Object.entries(prod.models))(
    '%s: the container, autoscaling and the cost model read sequencesPerCopy',
    (id, model) => {
      const env = lmiEnvironment(id, model, prod.fineTuning);

      expect(env.OPTION_MAX_ROLLING_BATCH_SIZE).toBe(String(model.serving.sequencesPerCopy));
      expect(targetConcurrencyPerCopy(model, prod.environment)).toBe(
        Math.floor(
          (model.serving.sequencesPerCopy * prod.environment.inference.targetUtilizationPercent) /
            100,
        ),
      );
    },
  );
});

describe('ungated defaults', () => {
  it.each(Object.entries(dev.models))(
    '%s downloads without a token (no gated organisation)',
    (_id, model) => {
      expect(model.weights).not.toMatch(/^(meta-llama|google\/gemma)\//);
    },
  );

  const gatedModel = {
    ...(dev.models['qwen3-8b'] as ModelConfig),
    weights: 'meta-llama/Llama-3.1-8B-Instruct',
  };

  it('refuses gated Hugging Face weights without a token or S3', () => {
    expect(() =>
      loadConfig({
        env: 'dev',
        overrides: { models: { 'qwen3-8b': { weights: gatedModel.weights } } },
      }),
    ).toThrow(
      /models\.qwen3-8b\.weights.*gated on Hugging Face.*s3:\/\/BUCKET\/PREFIX\/.*hfTokenSecretArn/s,
    );
    expect(() =>
      loadConfig({
        env: 'dev',
        overrides: { models: { 'qwen3-8b': { weights: 'acme/private', gated: true } } },
      }),
    ).toThrow(/gated on Hugging Face/);
  });

  it('accepts them from S3, or with a token from Secrets Manager passed as HF_TOKEN', () => {
    const arn = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:hf-token-AbCdEf';
    const withToken = loadConfig({
      env: 'dev',
      overrides: { models: { 'qwen3-8b': { weights: gatedModel.weights, hfTokenSecretArn: arn } } },
    });
    expect(() =>
      loadConfig({
        env: 'dev',
        overrides: { models: { 'qwen3-8b': { weights: 's3://bucket/llama/' } } },
      }),
    ).not.toThrow();

    const env = lmiEnvironment(
      'qwen3-8b',
      withToken.models['qwen3-8b'] as ModelConfig,
      withToken.fineTuning,
    );
    expect(new Stack().resolve(env.HF_TOKEN)).toBe(
      `{{resolve:secretsmanager:${arn}:SecretString:::}}`,
    );
  });

  it('publishes shutdown_date in /v1/models for a model that has one', () => {
    const config = loadConfig({
      env: 'dev',
      overrides: { models: { 'qwen3-8b': { shutdownDate: '2027-03-31' } } },
    });

    const models = modelsOfTier(config, 'developer');
    expect(models.find((m) => m.id === 'qwen3-8b')).toMatchObject({ shutdown_date: '2027-03-31' });
    expect(models.find((m) => m.id === 'qwen3-14b')).not.toHaveProperty('shutdown_date');
  });
});
