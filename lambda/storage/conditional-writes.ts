import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';

/**
 * DynamoDB's "the condition did not hold": by class, or by name for an error built by another copy
 * of the SDK (the class check alone misses those).
 */
export function isConditionFailure(error: unknown): boolean {
  return (
    error instanceof ConditionalCheckFailedException ||
    (error instanceof Error && error.name === 'ConditionalCheckFailedException')
  );
}

/**
 * A conditional write, as a yes or no: true when it was applied, false when its condition did not
 * hold (a retry that finds its work done, a writer that lost a race); any other failure is thrown.
 */
export async function applied(write: Promise<unknown>): Promise<boolean> {
  try {
    await write;
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}
