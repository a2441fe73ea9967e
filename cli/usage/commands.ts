import type { Command } from 'commander';
import type { CommandRunner } from '../command-runner';

/** `tierline usage ...` */
export function addUsageCommands(program: Command, { run, print }: CommandRunner): void {
  const usage = program.command('usage').description('the usage ledger');

  usage
    .command('replay-dead-letters')
    .description('put usage records that failed to reach the ledger into it (idempotent: nothing is billed twice)')
    .action((_options: unknown, command: Command) =>
      run(command, async (operator, json) => {
        const counts = await operator.replayDeadLetters();
        print(
          json,
          counts,
          `Replayed dead letters: ${counts.written} written, ${counts.duplicate} already in the ledger, ${counts.failed} failed (kept for the next run).`,
        );
      }),
    );
}
