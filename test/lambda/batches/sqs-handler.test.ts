import type { SQSEvent, SQSRecord } from 'aws-lambda';
import type { BatchMessage } from '../../../lambda/batches/batch-queue';
import { createBatchSqsHandler } from '../../../lambda/batches/sqs-handler';

const record = (messageId: string, body: string) => ({ messageId, body }) as SQSRecord;
const message = (batchId: string): BatchMessage => ({
  kind: 'finalize',
  customerId: 'cus_1',
  batchId,
});

describe('batch worker SQS handler', () => {
  it('reports failed records as batchItemFailures, runs the others, and never throws', async () => {
    const handled: string[] = [];
    const logged: string[] = [];
    const handler = createBatchSqsHandler(
      async (m) => {
        const id = m.kind === 'sweep' ? 'sweep' : m.batchId;
        if (id === 'batch_fails') throw new Error('no capacity');
        handled.push(id);
      },
      (text) => void logged.push(text),
    );
    const event: SQSEvent = {
      Records: [
        record('m1', JSON.stringify(message('batch_a'))),
        record('m2', JSON.stringify(message('batch_fails'))),
        record('m3', 'not json'),
        record('m4', JSON.stringify(message('batch_b'))),
      ],
    };

    const response = await handler(event);

    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'm2' }] });
    expect(handled).toEqual(['batch_a', 'batch_b']);
    expect(logged).toEqual([
      'batch message failed; SQS will deliver it again',
      'dropping a batch message that is not JSON',
    ]);
  });
});
