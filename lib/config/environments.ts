import type { EnvironmentConfigInput, TierlineConfigInput } from './schema';

/** A partial config, merged field by field over the defaults (arrays are replaced, not merged). */
export type DeepPartial<T> = T extends readonly unknown[]
  ? T
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> }
    : T;

export interface EnvironmentDefinition {
  environment: EnvironmentConfigInput;
  overrides?: DeepPartial<Omit<TierlineConfigInput, 'environment'>>;
}

/** Chosen with `cdk synth -c env=NAME`. */
export const environments: Record<string, EnvironmentDefinition> = {
  dev: {
    environment: {
      name: 'dev',
      retainData: false,
      terminationProtection: false,
      logRetentionDays: 14,
      authorizerCacheTtlSeconds: 60,
      stageThrottle: { rateLimit: 100, burstLimit: 200 },
      // Small, so dev leaves almost all of a shared account's concurrency to others (see prod for
      // the reasoning).
      reservedConcurrency: { authorizer: 5, api: 10, chat: 20 },
      inference: { scaleToZero: true, targetUtilizationPercent: 75 },
    },
    overrides: {
      // Development endpoints run one small GPU instance per model at most.
      models: {
        // As many copies as one instance holds: one GPU a copy on ml.g6e.xlarge, two of four on
        // ml.g6e.12xlarge.
        'qwen3-8b': { instanceCount: { min: 1, max: 1 }, maxCopies: 1 },
        'qwen3-14b': { instanceCount: { min: 1, max: 1 }, maxCopies: 1 },
        'qwen3-32b': { instanceCount: { min: 1, max: 1 }, maxCopies: 2 },
      },
    },
  },
  prod: {
    environment: {
      name: 'prod',
      retainData: true,
      terminationProtection: true,
      logRetentionDays: 365,
      authorizerCacheTtlSeconds: 60,
      stageThrottle: { rateLimit: 5_000, burstLimit: 10_000 },
      // Every oversized body answered 413 instead of API Gateway's 5xx: $7 a month plus $0.60 per
      // million requests.
      requestSizeGuard: true,
      // Of the default 1,000 (700 reserved, 300 left to the batch worker, metering and fine-tuning
      // functions):
      // - authorizer 100: a warm check takes ~20 ms (one GetItem), so 100 executions answer ~5,000
      //   uncached checks/s, the stage's rate limit, and API Gateway caches each key's decision for
      //   60 s;
      // - api 200: buffered routes are one to a few DynamoDB/S3 calls (~50-200 ms): ~1,000-4,000
      //   requests/s;
      // - chat 400: each stream holds an execution for its whole length (seconds to minutes); 400
      //   is above what the GPU endpoints serve at once (max copies x serving.sequencesPerCopy), so
      //   the cap bites only when streams would queue at SageMaker anyway. The throttle alarm says
      //   when to raise it.
      reservedConcurrency: { authorizer: 100, api: 200, chat: 400 },
      inference: { scaleToZero: false, targetUtilizationPercent: 75 },
    },
  },
};
