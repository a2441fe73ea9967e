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
      inference: { scaleToZero: true, targetUtilizationPercent: 75 },
    },
    overrides: {
      // Development endpoints run one small GPU instance per model at most.
      models: {
        'qwen3-8b': { instanceCount: { min: 1, max: 1 } },
        'qwen3-14b': { instanceCount: { min: 1, max: 1 } },
        'qwen3-32b': { instanceCount: { min: 1, max: 1 } },
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
      inference: { scaleToZero: false, targetUtilizationPercent: 75 },
    },
  },
};
