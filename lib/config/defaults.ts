import type { TierlineConfigInput } from './schema';

/**
 * Tierline's starting catalog and tiers. Free-tier limits are Groq's published free-tier figures;
 * prices are Groq's published per-token prices. Change them here (or per environment in
 * `environments.ts`) and redeploy: usage plans update in place and customers keep their keys.
 */

/**
 * Large Model Inference container (vLLM engine, OpenAI messages format): LMI v18 (djl-serving
 * 0.36.0, vLLM 0.12.0, released 2025-12-15), whose async vLLM handler serves LoRA adapters (from
 * LMI v17, djl-serving 0.35.0: "LoRA supported in Async mode"; LMI v15's async mode cannot host
 * adapters). Tag from djl-serving `serving/docs/lmi/release_notes.md` ("LMI V18"); the same tag is
 * published in every region the deep-learning-containers `available_images.md` lists for account
 * 763104351884. Context windows are 32K: the GPU-memory check at synth (`verifyGpuMemory`) says
 * what fits.
 */
const LMI_IMAGE =
  '763104351884.dkr.ecr.${AWS::Region}.amazonaws.com/djl-inference:0.36.0-lmi18.0.0-cu128';

/**
 * Ungated, openly licensed defaults (Apache-2.0), so a new operator's stack starts without a
 * Hugging Face token. Groq's deprecations page (console.groq.com/docs/deprecations; read 2026-12-07
 * through reports quoting it) shut down its Llama 3.1 8B Instant and Llama 3.3 70B Versatile models
 * on 2026-08-16, replaced by gpt-oss-20b and gpt-oss-120b. gpt-oss needs the o200k_harmony
 * tokenizer in the chat function (gpt-tokenizer 4.0.0: 2.8 MB minified, about 0.35 s to load here),
 * its harmony chat template for counting prompts, and an MXFP4 MoE budget in the GPU check: not
 * done yet, so the catalog keeps to Qwen3 (Qwen3ForCausalLM, the architecture the training script
 * fine-tunes). Meta's Llama weights are gated: add them with `s3://` weights or `hfTokenSecretArn`.
 */
const QWEN_8B = 'qwen3-8b';
const QWEN_14B = 'qwen3-14b';
const QWEN_32B = 'qwen3-32b';

/**
 * Whisper on vLLM, which serves `/v1/audio/transcriptions` for `WhisperForConditionalGeneration`:
 * AWS's vLLM deep learning container for SageMaker, with aws/model-hosting-container-standards (its
 * handler customisation), published at public.ecr.aws/deep-learning-containers/vllm under this tag.
 * SageMaker pulls from the account's private ECR only: copy it into a repository named `vllm` of
 * the deployment's account and region first (docs/speech-to-text.md, "Deploying").
 */
const VLLM_SAGEMAKER_IMAGE =
  '${AWS::AccountId}.dkr.ecr.${AWS::Region}.amazonaws.com/vllm:0.31.0-gpu-py312-cu130-ubuntu24.04-sagemaker';
const WHISPER_TURBO = 'whisper-large-v3-turbo';
const WHISPER_V3 = 'whisper-large-v3';

export const defaultConfig: Omit<TierlineConfigInput, 'environment'> = {
  console: {
    // Operators put their sales or billing page here (e.g. `-c configFile=` with {"console":
    // {"upgrade": ...}}).
    upgrade: {
      text: 'To move to another plan, contact your Tierline operator: they change tiers without a new key.',
    },
  },
  models: {
    [QWEN_8B]: {
      displayName: 'Qwen3 8B',
      ownedBy: 'Alibaba Cloud',
      contextWindow: 32_768,
      maxOutputTokens: 8_192,
      containerImage: LMI_IMAGE,
      weights: 'Qwen/Qwen3-8B',
      tokenizer: 'qwen3',
      reasoning: { parser: 'qwen3' },
      // One 48 GB L40S: 15.3 GiB of bf16 weights leave room for the KV cache of 32 sequences and
      // four rank-64 adapter slots (a 24 GB A10G does not: `verifyGpuMemory`).
      instanceType: 'ml.g6e.xlarge',
      instanceCount: { min: 1, max: 2 },
      acceleratorsPerCopy: 1,
      memoryMiBPerCopy: 16_384,
      maxCopies: 2,
      parameters: 8_190_735_360,
      serving: { sequencesPerCopy: 32, gpuMemoryUtilization: 0.9, kvTokensPerSequence: 2_048 },
      // Qwen/Qwen3-8B config.json.
      architecture: {
        hiddenSize: 4096,
        intermediateSize: 12_288,
        layers: 36,
        attentionHeads: 32,
        keyValueHeads: 8,
        headDim: 128,
      },
      // 16 GB of bf16 weights, activations and LoRA's optimizer state on one 48 GB L40S.
      trainingInstanceType: 'ml.g6e.2xlarge',
    },
    [QWEN_14B]: {
      displayName: 'Qwen3 14B',
      ownedBy: 'Alibaba Cloud',
      contextWindow: 32_768,
      maxOutputTokens: 8_192,
      containerImage: LMI_IMAGE,
      weights: 'Qwen/Qwen3-14B',
      tokenizer: 'qwen3',
      reasoning: { parser: 'qwen3' },
      instanceType: 'ml.g6e.xlarge',
      instanceCount: { min: 1, max: 2 },
      acceleratorsPerCopy: 1,
      memoryMiBPerCopy: 24_576,
      maxCopies: 2,
      parameters: 14_768_307_200,
      serving: { sequencesPerCopy: 16, gpuMemoryUtilization: 0.9, kvTokensPerSequence: 2_048 },
      // Qwen/Qwen3-14B config.json.
      architecture: {
        hiddenSize: 5120,
        intermediateSize: 17_408,
        layers: 40,
        attentionHeads: 40,
        keyValueHeads: 8,
        headDim: 128,
      },
      // 30 GB of bf16 weights and LoRA's training state on one 48 GB L40S.
      trainingInstanceType: 'ml.g6e.2xlarge',
    },
    [QWEN_32B]: {
      displayName: 'Qwen3 32B',
      ownedBy: 'Alibaba Cloud',
      contextWindow: 32_768,
      maxOutputTokens: 8_192,
      containerImage: LMI_IMAGE,
      weights: 'Qwen/Qwen3-32B',
      tokenizer: 'qwen3',
      reasoning: { parser: 'qwen3' },
      instanceType: 'ml.g6e.12xlarge',
      instanceCount: { min: 1, max: 2 },
      acceleratorsPerCopy: 2,
      memoryMiBPerCopy: 98_304,
      maxCopies: 4,
      parameters: 32_762_123_264,
      // Two L40S: 61 GiB of weights and 4 GiB of adapter slots leave about 48K tokens of KV cache.
      serving: { sequencesPerCopy: 16, gpuMemoryUtilization: 0.9, kvTokensPerSequence: 2_048 },
      // Qwen3's attention is wider than its hidden size: 64 heads x 128 = 8192 against 5120.
      architecture: {
        hiddenSize: 5120,
        intermediateSize: 25_600,
        layers: 64,
        attentionHeads: 64,
        keyValueHeads: 8,
        headDim: 128,
      },
    },
  },
  speechModels: {
    [WHISPER_TURBO]: {
      displayName: 'Whisper Large v3 Turbo',
      ownedBy: 'OpenAI',
      containerImage: VLLM_SAGEMAKER_IMAGE,
      weights: 'openai/whisper-large-v3-turbo',
      // 1.6 GB of fp16 weights: one 24 GB A10G.
      instanceType: 'ml.g5.xlarge',
      instanceCount: { min: 1, max: 2 },
      parameters: 809_000_000, // the model card: 809M
      minimumBilledSeconds: 10,
      // Turbo was fine-tuned on transcription only: OpenAI's card says it does not translate.
      translates: false,
    },
    [WHISPER_V3]: {
      displayName: 'Whisper Large v3',
      ownedBy: 'OpenAI',
      containerImage: VLLM_SAGEMAKER_IMAGE,
      weights: 'openai/whisper-large-v3',
      instanceType: 'ml.g5.xlarge',
      instanceCount: { min: 1, max: 2 },
      parameters: 1_550_000_000, // the model card: 1550M
      minimumBilledSeconds: 10,
      translates: true,
    },
  },
  tiers: {
    free: {
      displayName: 'Free',
      description: 'Start building at no cost. Exact per-model limits, no card required.',
      models: {
        [QWEN_8B]: {
          rpm: 30,
          rpd: 14_400,
          tpm: 6_000,
          tpd: 500_000,
          inputUsdPerMillion: 0,
          outputUsdPerMillion: 0,
        },
        [QWEN_14B]: {
          rpm: 30,
          rpd: 1_000,
          tpm: 12_000,
          tpd: 100_000,
          inputUsdPerMillion: 0,
          outputUsdPerMillion: 0,
        },
      },
      // Groq's free-tier figures for Whisper: 20 RPM, 2,000 RPD, 7,200 ASH, 28,800 ASD.
      speechToText: {
        [WHISPER_TURBO]: { rpm: 20, rpd: 2_000, ash: 7_200, asd: 28_800, usdPerHour: 0 },
        [WHISPER_V3]: { rpm: 20, rpd: 2_000, ash: 7_200, asd: 28_800, usdPerHour: 0 },
      },
      batch: { allowed: false, discountPercent: 0 },
      spendLimit: { allowed: false, alertThresholdsPercent: [] },
      lora: { allowed: false, premiumPercent: 0, trainingUsdPerMillionTokens: 0 },
      // Per key: a little above the sum of the per-model RPMs (60/min = 1 rps), so the edge only
      // stops floods.
      edge: { rateLimit: 2, burstLimit: 10, quota: { limit: 20_000, period: 'DAY' } },
      // New Free customers share 32 keys (10,000 sign-ups: about 310 a key); `edge` above stays for
      // Free customers made before the pool, who keep their own keys. 32 x 50 rps = 1,600 rps, a
      // sixth of the account's 10,000 rps, so a free flood cannot starve the paying tiers.
      edgePool: { keys: 32, rateLimit: 50, burstLimit: 100 },
      // Anyone can sign up: 1 GB of files (fine-tune and batch files need the paying tiers anyway).
      storageQuotaBytes: 1_000_000_000,
    },
    developer: {
      displayName: 'Developer',
      description:
        'Pay per token with higher limits, batch processing at a discount, and a monthly spend limit.',
      models: {
        [QWEN_8B]: {
          rpm: 1_000,
          rpd: 500_000,
          tpm: 250_000,
          tpd: 100_000_000,
          inputUsdPerMillion: 0.05,
          outputUsdPerMillion: 0.08,
        },
        [QWEN_14B]: {
          rpm: 1_000,
          rpd: 500_000,
          tpm: 300_000,
          tpd: 100_000_000,
          inputUsdPerMillion: 0.59,
          outputUsdPerMillion: 0.79,
        },
      },
      // Groq's prices: $0.04 per hour of audio (turbo), $0.111 (large v3); billed 10 s at least.
      speechToText: {
        [WHISPER_TURBO]: { rpm: 400, rpd: 200_000, ash: 400_000, asd: 4_000_000, usdPerHour: 0.04 },
        [WHISPER_V3]: { rpm: 300, rpd: 200_000, ash: 200_000, asd: 2_000_000, usdPerHour: 0.111 },
      },
      batch: { allowed: true, discountPercent: 50 },
      spendLimit: { allowed: true, alertThresholdsPercent: [50, 75, 90] },
      // LoRA at a premium: fine-tuned models cost 25% more per token than their base.
      lora: { allowed: true, premiumPercent: 25, trainingUsdPerMillionTokens: 3 },
      edge: { rateLimit: 50, burstLimit: 100 },
      storageQuotaBytes: 100_000_000_000,
    },
    enterprise: {
      displayName: 'Enterprise',
      description:
        'Contract pricing, custom limits per customer, LoRA fine-tuning and dedicated models.',
      models: {
        [QWEN_8B]: {
          rpm: 10_000,
          rpd: 10_000_000,
          tpm: 2_000_000,
          tpd: 1_000_000_000,
          inputUsdPerMillion: 0.05,
          outputUsdPerMillion: 0.08,
        },
        [QWEN_14B]: {
          rpm: 10_000,
          rpd: 10_000_000,
          tpm: 2_000_000,
          tpd: 1_000_000_000,
          inputUsdPerMillion: 0.59,
          outputUsdPerMillion: 0.79,
        },
        [QWEN_32B]: {
          rpm: 5_000,
          rpd: 5_000_000,
          tpm: 1_000_000,
          tpd: 500_000_000,
          inputUsdPerMillion: 0.29,
          outputUsdPerMillion: 0.59,
        },
      },
      speechToText: {
        [WHISPER_TURBO]: {
          rpm: 2_000,
          rpd: 2_000_000,
          ash: 2_000_000,
          asd: 40_000_000,
          usdPerHour: 0.04,
        },
        [WHISPER_V3]: {
          rpm: 2_000,
          rpd: 2_000_000,
          ash: 1_000_000,
          asd: 20_000_000,
          usdPerHour: 0.111,
        },
      },
      batch: { allowed: true, discountPercent: 50 },
      spendLimit: { allowed: true, alertThresholdsPercent: [50, 75, 90] },
      lora: { allowed: true, premiumPercent: 0, trainingUsdPerMillionTokens: 2 },
      edge: { rateLimit: 500, burstLimit: 1_000 },
      // OpenAI's limit for an organization's files.
      storageQuotaBytes: 1_000_000_000_000,
    },
  },
  fineTuning: {
    lora: {
      ranks: [8, 16, 32, 64],
      defaultRank: 16,
      alpha: { min: 1, max: 128 },
      defaultAlpha: 32,
      targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
      defaultTargetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'],
    },
    serving: { maxActiveAdapters: 4, maxCachedAdapters: 16 },
    training: {
      // AWS's Hugging Face PyTorch training DLC: PyTorch 2.9.0, transformers 5.3.0, peft 0.18.1,
      // accelerate 1.12.0, Python 3.12, CUDA 13.0 (aws/deep-learning-containers:
      // docs/src/data/huggingface-pytorch-training/
      // 2.9-gpu-sagemaker.yml, release_images_training.yml,
      // huggingface/pytorch/training/docker/2.9/py3/cu130/ Dockerfile.gpu). Qwen3 needs
      // transformers >= 4.51; the 4.49 image could not load it. CI trains with the same torch,
      // transformers and peft on CPU (.ci/run). Account 763104351884 serves most regions
      // (available_images).
      image:
        '763104351884.dkr.ecr.${AWS::Region}.amazonaws.com/huggingface-pytorch-training:2.9.0-transformers5.3.0-gpu-py312-cu130-ubuntu22.04',
      maxRuntimeSeconds: 24 * 3600,
      volumeSizeGb: 100,
      minExamples: 10,
      maxTrainedTokens: 100_000_000,
      // The API checks the whole file with the tokenizer before answering, inside API Gateway's 29
      // s: measured 0.24 MiB/s on a contended core (`npx tsx bench/training-file-check.ts`,
      // docs/benchmarks.md).
      maxFileBytes: 4 * 1024 * 1024,
      // Estimates for an 8B model in bf16 on one 48 GB L40S with gradient checkpointing, not yet
      // measured there (training/lora/gpu-smoke.sh prints the peak memory): 16 GB of weights, and
      // per micro-batch token the fp32 logits and their gradient (2 x 4 B x a 152K vocabulary: ~1.2
      // MB) plus one layer's recomputed activations; 8,192 tokens ~ 10 GB of logits.
      maxSequenceTokens: 8_192,
      microBatchTokens: 8_192,
      // Checkpoints every 30 minutes and at each epoch's end: an interrupted spot job loses at most
      // that much.
      spot: { enabled: true, maxWaitSeconds: 48 * 3600 },
    },
  },
};
