import { existsSync, readFileSync } from 'node:fs';
import { type ParseError, parse, printParseErrorCode } from 'jsonc-parser';
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

const DEFAULT_FIX_HINT =
  'Fix the field(s) above in lib/config/defaults.ts or the environment overrides in lib/config/environments.ts.';

/** Validates a raw config object. Throws a {@link ConfigError} that lists every problem by field path. */
export function parseConfig(
  raw: unknown,
  source = 'config',
  fixHint = DEFAULT_FIX_HINT,
): TierlineConfig {
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError(
      `Invalid Tierline ${source}:\n${describeIssues(result.error)}\n${fixHint}`,
    );
  }
  return result.data;
}

/** Line and column of a character offset, for a JSON syntax error. */
function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, column: (before.at(-1)?.length ?? 0) + 1 };
}

/**
 * Reads the JSON file of `-c configFile=`: a missing file, JSON that does not parse (with its line
 * and column) or a file that is not one object is a {@link ConfigError} naming the file and how to
 * fix it.
 */
export function readConfigFile(file: string): Record<string, unknown> {
  if (!existsSync(file)) {
    throw new ConfigError(
      `Config file ${file} (from -c configFile=) does not exist. Pass the path of a JSON file of overrides, ` +
        'relative to the directory you run cdk in, e.g. -c configFile=./my-tiers.json.',
    );
  }
  const text = readFileSync(file, 'utf8');
  // jsonc-parser (strict: no comments, no trailing commas) reports where the first error is, which
  // JSON.parse on Node 20 often does not.
  const errors: ParseError[] = [];
  const parsed: unknown = parse(text, errors, {
    disallowComments: true,
    allowTrailingComma: false,
  });
  const first = errors[0];
  if (first) {
    const where = lineAndColumn(text, first.offset);
    throw new ConfigError(
      `Config file ${file} is not valid JSON (line ${where.line}, column ${where.column}): ` +
        `${printParseErrorCode(first.error)}. Fix the syntax (JSON has no comments or trailing commas).`,
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(
      `Config file ${file} must hold one JSON object of overrides, e.g. {"tiers": {"free": {...}}}.`,
    );
  }
  return parsed as Record<string, unknown>;
}

export interface LoadConfigOptions {
  /** Environment name, from `-c env=NAME`. */
  env: string;
  /** Extra overrides merged last (tests, or `-c configFile=`). */
  overrides?: unknown;
  /** Where `overrides` came from (a file name): errors point there instead of the defaults. */
  overridesSource?: string;
}

/** Builds the config of one environment: defaults, then the environment's overrides, then `overrides`. */
export function loadConfig({ env, overrides, overridesSource }: LoadConfigOptions): TierlineConfig {
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
  return parseConfig(
    merged,
    `config for environment "${env}"${overridesSource ? ` with ${overridesSource}` : ''}`,
    overridesSource
      ? `Fix the field(s) above in ${overridesSource}: it is merged field by field over lib/config/defaults.ts and the "${env}" environment.`
      : DEFAULT_FIX_HINT,
  );
}
