import { Command, CommanderError, Option } from 'commander';
import { addBillingReportCommand } from './billing/commands';
import type { CommandRunner } from './command-runner';
import { addCostsCommand } from './costs/commands';
import { addCustomerCommands } from './customers/commands';
import { connectToDeployment, type DeploymentOptions } from './deployment';
import { addDoctorCommand, type DoctorCommandDependencies } from './doctor/commands';
import { type Operator, OperatorError } from './operator';
import { EXIT_CODES, type FailureKind } from './operator-errors';
import { addPlanCommands } from './plans/commands';
import { addSmokeCommand, type SmokeCommandDependencies } from './smoke/commands';
import { addUsageCommands } from './usage/commands';

export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

export interface CliDependencies
  extends CliIo,
    Omit<DoctorCommandDependencies, 'out'>,
    Omit<SmokeCommandDependencies, 'out'> {
  /** Connects to the deployment named by the global options. */
  connect: (options: DeploymentOptions) => Promise<Operator>;
}

interface GlobalOptions {
  env: string;
  region?: string;
  local?: boolean;
  json?: boolean;
}

/** The `tierline` command line. Tests build it with their own `connect` and output. */
export function buildProgram(deps: CliDependencies): Command {
  const program = new Command('tierline')
    .description('Operate a Tierline deployment: customers, API keys and usage plans.')
    .addOption(
      new Option(
        '--env <name>',
        'deployment environment (the -c env= it was deployed with)',
      ).default(process.env.TIERLINE_ENV ?? 'dev'),
    )
    .option(
      '--region <region>',
      'AWS region of the deployment (default: AWS_REGION or your profile)',
    )
    .option('--local', 'operate the local mode started with `npm start` instead of a deployment')
    .option('--json', 'print machine-readable JSON')
    .configureOutput({ writeOut: deps.out, writeErr: deps.err })
    .exitOverride()
    .showHelpAfterError();

  const run: CommandRunner['run'] = (command, action) => {
    const options = command.optsWithGlobals<GlobalOptions>();
    return deps
      .connect({
        env: options.env,
        region: options.region,
        ...(options.local ? { local: true } : {}),
      })
      .then((operator) => action(operator, options.json === true));
  };
  const print: CommandRunner['print'] = (json, value, text) =>
    deps.out(json ? JSON.stringify(value, null, 2) : text);

  addCustomerCommands(program, { run, print });
  addUsageCommands(program, { run, print });
  addPlanCommands(program, { run, print });
  addCostsCommand(program, deps);
  addBillingReportCommand(program, { run, print });
  addDoctorCommand(program, deps);
  addSmokeCommand(program, deps);

  return program;
}

/** Runs the CLI; resolves to the process exit code (one per kind of failure: {@link EXIT_CODES}). */
export async function runCli(argv: string[], deps: CliDependencies): Promise<number> {
  // With --json, errors are a JSON object on stderr too, so a script never parses prose.
  const json = argv.includes('--json');
  // Commander's own prose (the message and the help after it) is replaced by the JSON error below.
  const program = buildProgram(json ? { ...deps, err: () => undefined } : deps);
  const fail = (kind: FailureKind, message: string): number => {
    const code = EXIT_CODES[kind];
    deps.err(
      json
        ? `${JSON.stringify({ error: { message, code: kind, exit_code: code } })}\n`
        : `${message}\n`,
    );
    return code;
  };
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and --version exit 0; every other commander error is a wrong command line.
      if (error.exitCode === 0) return 0;
      if (!json) return EXIT_CODES.invalid_input;
      return fail('invalid_input', error.message.replace(/^error: /, ''));
    }
    if (error instanceof OperatorError) return fail(error.kind, error.message);
    return fail(
      'failed',
      error instanceof Error ? `${error.name}: ${error.message}` : String(error),
    );
  }
}

/** Entry point of `npx tierline` (see bin/tierline.cjs). */
export function main(): void {
  runCli(process.argv.slice(2), {
    out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
    err: (text) => process.stderr.write(text),
    connect: connectToDeployment,
  }).then((code) => {
    process.exitCode = code;
  });
}
