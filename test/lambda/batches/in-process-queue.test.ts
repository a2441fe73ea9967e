import type { BatchMessage } from '../../../lambda/batches/batch-queue';
import { InProcessBatchQueue } from '../../../lambda/batches/in-process-queue';

const run = (customerId: string, firstLine: number): BatchMessage => ({
  kind: 'run',
  customerId,
  batchId: `batch_${customerId}`,
  firstLine,
  startByte: 0,
  endByte: 0,
});

/** One customer's backlog held every other customer's batches (the worker is shared). */
describe('the in-process batch queue', () => {
  it("serves customers in turn: another customer's message runs next, not after a 100-message backlog", async () => {
    const queue = new InProcessBatchQueue({ concurrency: 1 });
    const order: string[] = [];
    queue.handler = async (message) => {
      order.push('customerId' in message ? `${message.customerId}` : 'sweep');
      await new Promise((resolve) => setImmediate(resolve));
    };

    await queue.send(Array.from({ length: 100 }, (_, i) => run('cus_big', i)));
    await queue.send([
      { kind: 'validate', customerId: 'cus_small', batchId: 'batch_small' },
      { kind: 'sweep' },
    ]);
    await queue.idle();

    expect(order).toHaveLength(102);
    // The first big message was already running; the small customer's and the sweep come right
    // after it.
    expect(order.indexOf('cus_small')).toBeLessThanOrEqual(2);
    expect(order.indexOf('sweep')).toBeLessThanOrEqual(3);
  });

  it('keeps each customer’s own messages in order, and retries a failed one later', async () => {
    const queue = new InProcessBatchQueue({ concurrency: 2, retryDelayMs: 5 });
    const seen: number[] = [];
    let failed = false;
    queue.handler = async (message) => {
      if (message.kind !== 'run') return;
      if (message.firstLine === 3 && !failed) {
        failed = true;
        throw new Error('no capacity');
      }
      seen.push(message.firstLine);
    };
    await queue.send([1, 2, 3, 4, 5].map((n) => run('cus_a', n)));
    await queue.idle();
    expect([...seen].sort()).toEqual([1, 2, 3, 4, 5]);
    expect(seen.indexOf(3)).toBe(4);
  });
});
