import * as path from 'node:path';
import type { Command } from 'commander';
import type { CommandRunner } from '../command-runner';
import { OperatorError } from '../operator-errors';
import { addBillingCommands } from './billing-commands';

/** `tierline usage ...` */
export function addUsageCommands(program: Command, { run, print }: CommandRunner): void {
  const usage = program.command('usage').description('the usage ledger');

  usage
    .command('replay-dead-letters')
    .description(
      'put usage records that failed to reach the ledger into it (idempotent: nothing is billed twice)',
    )
    .option(
      '--set-aside <file>',
      'where dead letters that are not usage records go',
      'tierline-set-aside.jsonl',
    )
    .action((options: { setAside: string }, command: Command) =>
      run(command, async (operator, json) => {
        const counts = await operator.replayDeadLetters(path.resolve(options.setAside));
        print(
          json,
          counts,
          `Replayed dead letters: ${counts.written} written, ${counts.duplicate} already in the ledger, ${counts.failed} failed (kept for the next run).` +
            (counts.set_aside > 0
              ? `\n${counts.set_aside} malformed set aside in ${counts.set_aside_file}.`
              : ''),
        );
        if (counts.failed > 0) {
          throw new OperatorError(
            `${counts.failed} records could not be written to the ledger: run it again later.`,
          );
        }
      }),
    );

  addBillingCommands(usage, { run, print });
}
