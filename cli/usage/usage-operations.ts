import type { AggregateUpdater } from '../../lambda/metering/aggregate-updates';
import type { UsageReports } from '../../lambda/metering/usage-report';
import { setAsideFile } from '../dead-letters';
import type { OperatorContext } from '../operator-context';
import { OperatorError } from '../operator-errors';

/** `usage ...`: the ledger's dead letters, and the operator's view of billing. */
export class UsageOperations {
  constructor(private readonly ctx: OperatorContext) {}

  /**
   * Puts the usage records waiting in the ledger's dead letters into the ledger. Idempotent: a
   * record already in the ledger counts as a duplicate and is not billed twice. What fails again
   * stays for the next run; what is not a ledger record is set aside in `setAsidePath` (named in
   * the result) and the replay goes on.
   */
  async replayDeadLetters(setAsidePath: string): Promise<{
    written: number;
    duplicate: number;
    failed: number;
    set_aside: number;
    set_aside_file: string;
  }> {
    const usage = this.ctx.deps.usage;
    if (!usage) throw new OperatorError('This deployment has no ledger dead letters configured.');
    const counts = { written: 0, duplicate: 0, failed: 0 };
    const setAside = setAsideFile(setAsidePath);
    await usage.deadLetters.drain(async (record) => {
      try {
        const result = await usage.ledger.put(record);
        // Also for a duplicate: the aggregates apply a record once, and finish what an earlier run
        // left.
        await usage.afterWrite?.(record);
        counts[result] += 1;
        return true;
      } catch {
        counts.failed += 1;
        return false;
      }
    }, setAside);
    return { ...counts, set_aside: setAside.count(), set_aside_file: setAside.file };
  }

  /** The usage views and repair of this deployment's metering table. */
  tools(): { reports: UsageReports; aggregates: Pick<AggregateUpdater, 'recomputeDay'> } {
    const { usageReports, aggregates } = this.ctx.deps;
    if (!usageReports || !aggregates)
      throw new OperatorError('This deployment has no metering table configured.');
    return { reports: usageReports, aggregates };
  }
}
