import type { z } from 'zod';
import { defaultConfig } from './defaults';
import { environments } from './environments';
import { configSchema, type TierlineConfig } from './schema';

/** An invalid config: the message names every bad field and how to fix it. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Merges `override` over `base` field by field; arrays and scalars in `override` replace the base value. */
export function deepMerge(base: unknown, override: unknown): unknown {
  if (override === undefined) return base;
  if (!isPlainObject(base) || !isPlainObject(override)) return override;
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) {
    merged[key] = deepMerge(base[key], value);
  }
  return merged;
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.length > 0 ? issue.path.join('.') : '(root)';
      return `  - ${path}: ${issue.message}`;
    })
    .join('\n');
}

/** Validates a raw config object. Throws a {@link ConfigError} that lists every problem by field path. */
export function parseConfig(raw: unknown, source = 'config'): TierlineConfig {
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError(
      `Invalid Tierline ${source}:\n${describeIssues(result.error)}\n` +
        'Fix the field(s) above in lib/config/defaults.ts or the environment overrides in lib/config/environments.ts.',
    );
  }
  return result.data;
}

export interface LoadConfigOptions {
  /** Environment name, from `-c env=NAME`. */
  env: string;
  /** Extra overrides merged last (tests, or `-c overrides=<json>`). */
  overrides?: unknown;
}

/** Builds the config of one environment: defaults, then the environment's overrides, then `overrides`. */
export function loadConfig({ env, overrides }: LoadConfigOptions): TierlineConfig {
  const definition = environments[env];
  if (!definition) {
    throw new ConfigError(
      `Unknown environment "${env}": pass -c env=NAME with one of ${Object.keys(environments).join(', ')}, ` +
        'or add it to lib/config/environments.ts.',
    );
  }
  const merged = deepMerge(
    deepMerge({ ...defaultConfig, environment: definition.environment }, definition.overrides),
    overrides,
  );
  return parseConfig(merged, `config for environment "${env}"`);
}
