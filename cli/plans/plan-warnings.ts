import { MIN_DEFAULT_OUTPUT_TOKENS } from '../../lambda/metering/request-metering';
import type { ModelLimits } from '../../lib/config/schema';

/**
 * What an operator should know about a custom plan before a customer hits it: a model whose TPM or
 * TPD is at most the default output allowance ({@link MIN_DEFAULT_OUTPUT_TOKENS}). Requests without
 * max_completion_tokens still run there, but with less output than elsewhere, and one at a time.
 */
export function customPlanWarnings(models: Record<string, ModelLimits>): string[] {
  return Object.entries(models)
    .filter(([, limits]) => Math.min(limits.tpm, limits.tpd) <= MIN_DEFAULT_OUTPUT_TOKENS)
    .map(([model, limits]) => {
      const budget = Math.min(limits.tpm, limits.tpd);
      return (
        `warning: ${model}: a budget of ${budget} tokens is at most the default output allowance of ` +
        `${MIN_DEFAULT_OUTPUT_TOKENS}: a request without max_completion_tokens gets at most ${budget} minus its ` +
        'prompt of output and holds the whole minute while it runs; ask the customer to set max_completion_tokens.'
      );
    });
}
