import type { OperatorContext } from '../operator-context';
import { OperatorError } from '../operator-errors';

/** `usage ...`: the ledger's dead letters. */
export class UsageOperations {
  constructor(private readonly ctx: OperatorContext) {}

  /**
   * Puts the usage records waiting in the ledger's dead letters into the ledger. Idempotent: a record already
   * in the ledger counts as a duplicate and is not billed twice. What fails again stays for the next run.
   */
  async replayDeadLetters(): Promise<{ written: number; duplicate: number; failed: number }> {
    const usage = this.ctx.deps.usage;
    if (!usage) throw new OperatorError('This deployment has no ledger dead letters configured.');
    const counts = { written: 0, duplicate: 0, failed: 0 };
    await usage.deadLetters.drain(async (record) => {
      try {
        const result = await usage.ledger.put(record);
        counts[result] += 1;
        if (result === 'written') await usage.afterWrite?.(record);
        return true;
      } catch {
        counts.failed += 1;
        return false;
      }
    });
    return counts;
  }
}
