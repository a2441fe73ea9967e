import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';

/** Work for the batch worker: check a batch's file, run a chunk of its lines, or write its files. */
export type BatchMessage =
  | { kind: 'validate'; customerId: string; batchId: string }
  | {
      kind: 'run';
      customerId: string;
      batchId: string;
      /** Line number (1-based) of the first line of the chunk, and its bytes in the input file (inclusive). */
      firstLine: number;
      startByte: number;
      endByte: number;
    }
  | { kind: 'finalize'; customerId: string; batchId: string }
  /** Ends the batches whose completion window has passed (sent on a schedule, and again while more are due). */
  | { kind: 'sweep' };

export interface BatchQueue {
  send(messages: BatchMessage[]): Promise<void>;
}

/** Environment variable that carries the queue URL into a function. */
export const BATCH_QUEUE_ENV = 'BATCH_QUEUE_URL';

/** SQS takes at most 10 messages per SendMessageBatch. */
const SQS_BATCH_MAX = 10;

export class SqsBatchQueue implements BatchQueue {
  constructor(
    private readonly sqs: SQSClient,
    private readonly queueUrl: string,
  ) {}

  async send(messages: BatchMessage[]): Promise<void> {
    for (let i = 0; i < messages.length; i += SQS_BATCH_MAX) {
      const entries = messages.slice(i, i + SQS_BATCH_MAX).map((message, j) => ({
        Id: String(j),
        MessageBody: JSON.stringify(message),
        // The customer is the tenant of SQS fair queues: when one customer's batch floods the queue
        // (a 50,000-line batch, or its cancel), SQS delivers the other customers' messages first
        // instead of behind it (issue 20 row 5). "Fair queues identify tenants by the
        // MessageGroupId property on each message ... on standard queues" (SQS Developer Guide,
        // "Amazon SQS fair queues" and "How Amazon SQS fair queues work").
        ...('customerId' in message ? { MessageGroupId: message.customerId } : {}),
      }));
      const result = await this.sqs.send(
        new SendMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: entries }),
      );
      if (result.Failed && result.Failed.length > 0) {
        throw new Error(
          `SQS refused ${result.Failed.length} batch messages: ${result.Failed[0]?.Message ?? ''}`,
        );
      }
    }
  }
}
