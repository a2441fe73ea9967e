import type { z } from 'zod';

/** A failure the operator can act on: printed without a stack trace. */
export class OperatorError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'OperatorError';
  }
}

export function invalid(error: z.ZodError): OperatorError {
  return new OperatorError(
    error.issues.map((issue) => `${issue.path.join('.') || 'input'}: ${issue.message}`).join('\n'),
    2,
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
