import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { BatchMessage } from './batch-queue';

/**
 * Runs each SQS record through the worker and reports the ones that failed as `batchItemFailures`:
 * only those come back (after the visibility timeout), never the whole batch, and nothing is
 * thrown. A record that is not a batch message is logged and dropped (it would fail the same way on
 * every delivery).
 */
export function createBatchSqsHandler(
  handle: (message: BatchMessage) => Promise<void>,
  logError: (message: string, details: Record<string, unknown>) => void,
): (event: SQSEvent) => Promise<SQSBatchResponse> {
  return async (event) => {
    const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
    for (const record of event.Records) {
      let message: BatchMessage;
      try {
        message = JSON.parse(record.body) as BatchMessage;
      } catch (error) {
        logError('dropping a batch message that is not JSON', {
          messageId: record.messageId,
          error,
        });
        continue;
      }
      try {
        await handle(message);
      } catch (error) {
        logError('batch message failed; SQS will deliver it again', {
          messageId: record.messageId,
          error,
        });
        batchItemFailures.push({ itemIdentifier: record.messageId });
      }
    }
    return { batchItemFailures };
  };
}
