import { type Command, InvalidArgumentError } from 'commander';
import type { Operator } from './operator';

/** What each command group needs from the program: a connected operator and a printer. */
export interface CommandRunner {
  /** Connects with the global options and runs the command's action. */
  run: (
    command: Command,
    action: (operator: Operator, json: boolean) => Promise<void>,
  ) => Promise<void>;
  /** Prints `value` as JSON with `--json`, else `text`. */
  print: (json: boolean, value: unknown, text: string) => void;
}

export function positiveNumber(value: string): number {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0)
    throw new InvalidArgumentError('must be a positive number');
  return parsed;
}

export function positiveInteger(value: string): number {
  const parsed = positiveNumber(value);
  if (!Number.isInteger(parsed)) throw new InvalidArgumentError('must be a whole number');
  return parsed;
}
