import type { z } from 'zod';

/**
 * The CLI's exit codes, one per kind of failure (documented in docs/operating.md, "Exit codes";
 * printed by `--json` errors as `error.code`): scripts can tell a typo from a missing customer from
 * an AWS outage.
 */
export const EXIT_CODES = {
  /** An unexpected failure: AWS or DynamoDB refused, a bug. Retrying may help. */
  failed: 1,
  /** The command line or its values are wrong (unknown option, bad tier, invalid e-mail). */
  invalid_input: 2,
  /** No such customer (or object). */
  not_found: 3,
  /** The customer is not in a state that allows this (revoked, not active, wrong tier). */
  wrong_state: 4,
  /** No deployment to talk to: not deployed, wrong --env/--region, local mode not running. */
  no_deployment: 5,
} as const;
export type FailureKind = keyof typeof EXIT_CODES;

/** A failure the operator can act on: printed without a stack trace. */
export class OperatorError extends Error {
  readonly exitCode: number;

  constructor(
    message: string,
    readonly kind: FailureKind = 'failed',
  ) {
    super(message);
    this.name = 'OperatorError';
    this.exitCode = EXIT_CODES[kind];
  }
}

export function invalid(error: z.ZodError): OperatorError {
  return new OperatorError(
    error.issues.map((issue) => `${issue.path.join('.') || 'input'}: ${issue.message}`).join('\n'),
    'invalid_input',
  );
}

export function errorName(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined;
}

/** Runs `action`, treating the named API Gateway errors as "already in the wanted state". */
export async function tolerate(action: () => Promise<unknown>, ...names: string[]): Promise<void> {
  try {
    await action();
  } catch (error) {
    if (!names.includes(errorName(error) ?? '')) throw error;
  }
}
