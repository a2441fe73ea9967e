import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { CustomerRecord } from '../lambda/customers/customers-repository';
import { TIER_NAMES } from '../lib/config/schema';
import { addCostsCommand } from './costs-command';
import { connectToDeployment, type DeploymentOptions } from './deployment';
import { type CustomPlanInput, type Operator, OperatorError } from './operator';

export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

export interface CliDependencies extends CliIo {
  /** Connects to the deployment named by the global options. */
  connect: (options: DeploymentOptions) => Promise<Operator>;
}

interface GlobalOptions {
  env: string;
  region?: string;
  local?: boolean;
  json?: boolean;
}

/** What an operator may see of a customer: never a key hash. */
export function customerView(customer: CustomerRecord) {
  const { keyHash: _hash, pendingKeyHash: _pending, previousKeyHash: _previous, ...view } = customer;
  return view;
}

function positiveNumber(value: string): number {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0) throw new InvalidArgumentError('must be a positive number');
  return parsed;
}

function positiveInteger(value: string): number {
  const parsed = positiveNumber(value);
  if (!Number.isInteger(parsed)) throw new InvalidArgumentError('must be a whole number');
  return parsed;
}

/** `--model llama-3.3-70b-versatile:rpm=100,rpd=10000,tpm=50000,tpd=5000000`, repeatable. */
function modelLimits(value: string, previous: CustomPlanInput['models'] = {}): CustomPlanInput['models'] {
  const match = /^([a-z0-9.-]+):(.+)$/.exec(value);
  if (!match) throw new InvalidArgumentError('expected MODEL:rpm=N,rpd=N,tpm=N,tpd=N');
  const [, model, list] = match as unknown as [string, string, string];
  const limits: Record<string, number> = {};
  for (const pair of list.split(',')) {
    const [key, raw] = pair.split('=');
    if (!key || !['rpm', 'rpd', 'tpm', 'tpd'].includes(key) || raw === undefined) {
      throw new InvalidArgumentError(`unknown limit "${pair}": use rpm, rpd, tpm and tpd`);
    }
    limits[key] = positiveInteger(raw);
  }
  for (const key of ['rpm', 'rpd', 'tpm', 'tpd']) {
    if (!(key in limits)) throw new InvalidArgumentError(`${model}: ${key} is missing (give rpm, rpd, tpm and tpd)`);
  }
  return { ...previous, [model]: limits as CustomPlanInput['models'][string] };
}

function describeCustomer(customer: CustomerRecord): string {
  const lines = [
    `${customer.customerId}  ${customer.name} <${customer.email}>`,
    `  tier: ${customer.tier}${customer.customPlan ? ' (custom plan)' : ''}   status: ${customer.status}`,
    `  key: ${customer.keyHint ?? '-'}   created: ${customer.createdAt}`,
  ];
  if (customer.spendLimitUsd !== undefined) lines.push(`  spend limit: $${customer.spendLimitUsd} per month`);
  if (customer.customPlan) {
    const { edge, models } = customer.customPlan;
    lines.push(
      `  edge: ${edge.rateLimit} req/s, burst ${edge.burstLimit}${edge.quota ? `, quota ${edge.quota.limit}/${edge.quota.period}` : ''}`,
    );
    for (const [model, l] of Object.entries(models)) {
      lines.push(`  ${model}: ${l.rpm} RPM, ${l.rpd} RPD, ${l.tpm} TPM, ${l.tpd} TPD`);
    }
  }
  return lines.join('\n');
}

/** The `tierline` command line. Tests build it with their own `connect` and output. */
export function buildProgram(deps: CliDependencies): Command {
  const program = new Command('tierline')
    .description('Operate a Tierline deployment: customers, API keys and usage plans.')
    .addOption(
      new Option('--env <name>', 'deployment environment (the -c env= it was deployed with)').default(
        process.env.TIERLINE_ENV ?? 'dev',
      ),
    )
    .option('--region <region>', 'AWS region of the deployment (default: AWS_REGION or your profile)')
    .option('--local', 'operate the local mode started with `npm start` instead of a deployment')
    .option('--json', 'print machine-readable JSON')
    .configureOutput({ writeOut: deps.out, writeErr: deps.err })
    .exitOverride()
    .showHelpAfterError();

  const run = (command: Command, action: (operator: Operator, json: boolean) => Promise<void>): Promise<void> => {
    const options = command.optsWithGlobals<GlobalOptions>();
    return deps
      .connect({ env: options.env, region: options.region, ...(options.local ? { local: true } : {}) })
      .then((operator) => action(operator, options.json === true));
  };
  const print = (json: boolean, value: unknown, text: string) => deps.out(json ? JSON.stringify(value, null, 2) : text);

  const customers = program.command('customers').description('create and manage customers and their API keys');

  customers
    .command('create')
    .description('create a customer with an API key (shown once); re-running with the same e-mail changes nothing')
    .requiredOption('--name <name>', 'customer or company name')
    .requiredOption('--email <email>', 'contact e-mail (unique per customer)')
    .addOption(new Option('--tier <tier>', 'tier').choices([...TIER_NAMES]).makeOptionMandatory())
    .action((options: { name: string; email: string; tier: string }, command: Command) =>
      run(command, async (operator, json) => {
        const result = await operator.createCustomer(options);
        const view = { created: result.created, customer: customerView(result.customer), api_key: result.apiKey };
        const text = result.created
          ? `Created ${describeCustomer(result.customer)}\n\nAPI key (shown once, store it now):\n  ${result.apiKey}`
          : `A customer with this e-mail already exists; nothing changed (use "customers rotate-key" for a new key):\n${describeCustomer(result.customer)}`;
        print(json, view, text);
      }),
    );

  customers
    .command('list')
    .description('list customers, oldest first')
    .option('--limit <n>', 'page size', positiveInteger, 100)
    .option('--cursor <cursor>', 'continue after a previous page')
    .action((options: { limit: number; cursor?: string }, command: Command) =>
      run(command, async (operator, json) => {
        const page = await operator.listCustomers(options);
        const text = page.customers.length
          ? page.customers
              .map((c) => `${c.customerId}  ${c.tier.padEnd(10)}  ${c.status.padEnd(8)}  ${c.name} <${c.email}>`)
              .join('\n')
          : 'No customers.';
        print(
          json,
          { customers: page.customers.map(customerView), cursor: page.cursor ?? null },
          page.cursor ? `${text}\n(more: --cursor ${page.cursor})` : text,
        );
      }),
    );

  customers
    .command('show')
    .description("show one customer, its tier and its plan's limits")
    .argument('<customerId>')
    .action((customerId: string, _options: unknown, command: Command) =>
      run(command, async (operator, json) => {
        const customer = await operator.getCustomer(customerId);
        print(json, customerView(customer), describeCustomer(customer));
      }),
    );

  customers
    .command('set-tier')
    .description("move a customer to another tier's usage plan (drops a custom plan)")
    .argument('<customerId>')
    .argument('<tier>', `one of ${TIER_NAMES.join(', ')}`)
    .action((customerId: string, tier: string, _options: unknown, command: Command) =>
      run(command, async (operator, json) => {
        const result = await operator.setTier(customerId, tier);
        const text = result.changed
          ? `Moved ${customerId} to ${tier}.`
          : `${customerId} is already on ${tier}; nothing changed.`;
        print(json, { changed: result.changed, customer: customerView(result.customer) }, text);
      }),
    );

  customers
    .command('rotate-key')
    .description('issue a new API key (shown once); the old key stops working within the authorizer cache TTL')
    .argument('<customerId>')
    .action((customerId: string, _options: unknown, command: Command) =>
      run(command, async (operator, json) => {
        const result = await operator.rotateKey(customerId);
        print(
          json,
          { customer: customerView(result.customer), api_key: result.apiKey },
          `New API key for ${customerId} (shown once, store it now):\n  ${result.apiKey}`,
        );
      }),
    );

  customers
    .command('revoke')
    .description("revoke a customer's key and remove its API Gateway key; within the cache TTL it stops working")
    .argument('<customerId>')
    .action((customerId: string, _options: unknown, command: Command) =>
      run(command, async (operator, json) => {
        const customer = await operator.revoke(customerId);
        print(json, customerView(customer), `Revoked ${customerId}.`);
      }),
    );

  customers
    .command('spend-limit')
    .description(
      "set a customer's monthly spend limit in USD, or 'none' to remove it (alerts at the tier's thresholds)",
    )
    .argument('<customerId>')
    .argument('<usd>', "monthly limit in USD, or 'none'", (value: string) => {
      if (value === 'none') return null;
      const usd = Number(value);
      if (!Number.isFinite(usd) || usd < 0) throw new InvalidArgumentError("must be a number of USD >= 0, or 'none'");
      return usd;
    })
    .action((customerId: string, usd: number | null, _options: unknown, command: Command) =>
      run(command, async (operator, json) => {
        const customer = await operator.setSpendLimit(customerId, usd);
        print(
          json,
          customerView(customer),
          usd === null
            ? `Removed the spend limit of ${customerId}.`
            : `Spend limit of ${customerId}: $${usd} per month.`,
        );
      }),
    );

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

  const plans = program.command('plans').description('usage plans: the tier plans and Enterprise custom plans');

  plans
    .command('create-custom')
    .description('give an Enterprise customer its own usage plan and per-model limits (re-run to change them)')
    .argument('<customerId>')
    .requiredOption('--rate <n>', 'requests per second at the edge', positiveNumber)
    .requiredOption('--burst <n>', 'burst size at the edge', positiveInteger)
    .option('--quota <n>', 'request quota per period at the edge', positiveInteger)
    .addOption(new Option('--period <period>', 'quota period').choices(['DAY', 'WEEK', 'MONTH']).default('MONTH'))
    .option(
      '--model <MODEL:rpm=N,rpd=N,tpm=N,tpd=N>',
      'per-model limits replacing the tier default (repeatable)',
      modelLimits,
    )
    .action(
      (
        customerId: string,
        options: {
          rate: number;
          burst: number;
          quota?: number;
          period: 'DAY' | 'WEEK' | 'MONTH';
          model?: CustomPlanInput['models'];
        },
        command: Command,
      ) =>
        run(command, async (operator, json) => {
          const customer = await operator.createCustomPlan(customerId, {
            rateLimit: options.rate,
            burstLimit: options.burst,
            quota: options.quota ? { limit: options.quota, period: options.period } : undefined,
            models: options.model ?? {},
          });
          print(json, customerView(customer), `Custom plan of ${describeCustomer(customer)}`);
        }),
    );

  plans
    .command('list')
    .description('list the tier plans and custom plans as API Gateway has them')
    .action((_options: unknown, command: Command) =>
      run(command, async (operator, json) => {
        const all = await operator.listPlans();
        const text = all
          .map(
            (p) =>
              `${p.id}  ${p.kind.padEnd(10)}  ${p.throttle?.rateLimit ?? '-'} req/s, burst ${p.throttle?.burstLimit ?? '-'}` +
              `${p.quota ? `, quota ${p.quota.limit}/${p.quota.period}` : ''}${p.customerId ? `  (${p.customerId})` : ''}`,
          )
          .join('\n');
        print(json, all, text || 'No usage plans found.');
      }),
    );

  addCostsCommand(program, deps);

  return program;
}

/** Runs the CLI; resolves to the process exit code. */
export async function runCli(argv: string[], deps: CliDependencies): Promise<number> {
  const program = buildProgram(deps);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    if (error instanceof OperatorError) {
      deps.err(`${error.message}\n`);
      return error.exitCode;
    }
    deps.err(`${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}\n`);
    return 1;
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
