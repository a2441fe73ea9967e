import { type Command, InvalidArgumentError } from 'commander';
import { ConfigError, loadConfig } from '../../lib/config/load';
import { defaultCostInputs, parseCostInputs } from '../../lib/costs/inputs';
import type { FixedResources } from '../../lib/costs/model';
import { buildCostReport, formatCostReport } from '../../lib/costs/report';
import { OperatorError } from '../operator-errors';

export interface CostsCommandDependencies {
  out: (text: string) => void;
  /** Counts KMS keys and alarms of the environment (default: synthesizes its templates in memory). */
  countFixedResources?: (config: ReturnType<typeof loadConfig>) => FixedResources;
}

function utilization(value: string): number {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0 || parsed > 100) {
    throw new InvalidArgumentError('must be a percentage above 0 and at most 100');
  }
  return parsed / 100;
}

function marginPercent(value: string): number {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < 0 || parsed >= 100) {
    throw new InvalidArgumentError('must be a percentage of at least 0 and below 100');
  }
  return parsed;
}

/** `tierline costs`: what each tier costs the operator, from the config and lib/costs/inputs.ts. Offline. */
export function addCostsCommand(program: Command, deps: CostsCommandDependencies): void {
  program
    .command('costs')
    .description(
      "what each tier costs to run: GPU and gateway cost per 1M tokens, each tier's margin, the most a Free " +
        'customer can cost, the idle cost of the environment (offline: no AWS call)',
    )
    .option(
      '--utilization <percent>',
      'share of GPU time busy at the target concurrency (default: inputs file)',
      utilization,
    )
    .option(
      '--margin <percent>',
      'print the prices per paying tier that reach this margin on the typical request, and the config patch',
      marginPercent,
    )
    .action((options: { utilization?: number; margin?: number }, command: Command) => {
      const globals = command.optsWithGlobals<{ env: string; json?: boolean }>();
      let config: ReturnType<typeof loadConfig>;
      try {
        config = loadConfig({ env: globals.env });
      } catch (error) {
        if (error instanceof ConfigError) throw new OperatorError(error.message, 'invalid_input');
        throw error;
      }
      const inputs = parseCostInputs({
        ...defaultCostInputs,
        ...(options.utilization !== undefined ? { gpuUtilization: options.utilization } : {}),
      });
      // Loaded on use: it pulls in aws-cdk-lib, which the other commands do not need.
      const count =
        deps.countFixedResources ?? require('../../lib/costs/resources').countFixedResources;
      const report = buildCostReport(config, inputs, count(config), {
        marginPercent: options.margin,
      });
      deps.out(globals.json ? JSON.stringify(report, null, 2) : formatCostReport(report));
    });
}
