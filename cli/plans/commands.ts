import { type Command, InvalidArgumentError, Option } from 'commander';
import { type CommandRunner, positiveInteger, positiveNumber } from '../command-runner';
import { customerView, describeCustomer } from '../customers/commands';
import type { CustomPlanInput } from '../operator';
import { customPlanWarnings } from './plan-warnings';

/** `--model qwen3-14b:rpm=100,rpd=10000,tpm=50000,tpd=5000000`, repeatable. */
function modelLimits(
  value: string,
  previous: CustomPlanInput['models'] = {},
): CustomPlanInput['models'] {
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
    if (!(key in limits))
      throw new InvalidArgumentError(`${model}: ${key} is missing (give rpm, rpd, tpm and tpd)`);
  }
  return { ...previous, [model]: limits as CustomPlanInput['models'][string] };
}

/** `tierline plans ...` */
export function addPlanCommands(program: Command, { run, print }: CommandRunner): void {
  const plans = program
    .command('plans')
    .description('usage plans: the tier plans and Enterprise custom plans');

  plans
    .command('create-custom')
    .description(
      'give an Enterprise customer its own usage plan and per-model limits (re-run to change them)',
    )
    .argument('<customerId>')
    .requiredOption('--rate <n>', 'requests per second at the edge', positiveNumber)
    .requiredOption('--burst <n>', 'burst size at the edge', positiveInteger)
    .option('--quota <n>', 'request quota per period at the edge', positiveInteger)
    .addOption(
      new Option('--period <period>', 'quota period')
        .choices(['DAY', 'WEEK', 'MONTH'])
        .default('MONTH'),
    )
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
          const warnings = customPlanWarnings(options.model ?? {});
          print(
            json,
            customerView(customer),
            [`Custom plan of ${describeCustomer(customer)}`, ...warnings].join('\n'),
          );
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
}
