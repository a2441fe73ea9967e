import type { TierModelOffer } from '../../lib/config/schema';

/**
 * Prices and costs, exact. Money is an integer number of micro-dollars (1 µ$ = 1e-6 USD) everywhere
 * it is stored or added up; floats appear only in the configuration (USD per 1M tokens) and are
 * converted once.
 *
 * - A price is held as integer µ$ per 1M tokens (6 decimals of USD per 1M tokens: $0.59 → 590000).
 *   A price is then exactly µ$ per token × 1e6, so a request's cost is an integer in units of 1e-12
 *   USD, computed with BigInt, and rounded UP to whole µ$ once per request (never per token): the
 *   customer is charged at most 1 µ$ more than the exact amount, and the sum of stored costs is
 *   what the invoices add up.
 * - Percentages (batch discount, fine-tune premium) are resolved to parts per million of the
 *   amount.
 */

export const MICRO_USD_PER_USD = 1_000_000;
/** Stripe and OpenAI's spend bodies count cents. */
export const MICRO_USD_PER_CENT = 10_000;

/** Prices applied to a request: integer µ$ per 1M tokens (recorded in the ledger as they were then). */
export interface TokenPrices {
  inputMicroUsdPerMillion: number;
  outputMicroUsdPerMillion: number;
}

export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
}

/**
 * How a request that reached the model ended. Requests refused before (authentication, validation,
 * rate or spend limit) produce no tokens and are not recorded in the ledger; they are visible in
 * logs and metrics.
 */
export type RequestOutcome = 'completed' | 'failed' | 'client_disconnected';

const PPM = 1_000_000n;

function percentToPpm(percent: number, what: string): bigint {
  if (!Number.isFinite(percent) || percent < 0)
    throw new RangeError(`${what} must be a percentage >= 0`);
  return BigInt(Math.round(percent * 10_000));
}

function nonNegativeInt(value: number, what: string): bigint {
  if (!Number.isSafeInteger(value) || value < 0)
    throw new RangeError(`${what} must be a non-negative integer`);
  return BigInt(value);
}

/** Ceiling of a / b for non-negative BigInts. */
function divCeil(a: bigint, b: bigint): bigint {
  return (a + b - 1n) / b;
}

/** Whole µ$ for a USD amount (a spend limit, a configured price). Rounds to the nearest µ$. */
export function usdToMicroUsd(usd: number): number {
  if (!Number.isFinite(usd) || usd < 0)
    throw new RangeError('a USD amount must be a finite number >= 0');
  return Math.round(usd * MICRO_USD_PER_USD);
}

/**
 * The prices of a model as a tier offers it; `premiumPercent` (a fine-tuned adapter's premium on
 * its base model) raises both prices, rounded up to whole µ$ per 1M tokens.
 */
export function pricesOf(
  offer: Pick<TierModelOffer, 'inputUsdPerMillion' | 'outputUsdPerMillion'>,
  premiumPercent = 0,
): TokenPrices {
  const factor = PPM + percentToPpm(premiumPercent, 'premiumPercent');
  const apply = (usd: number) => Number(divCeil(BigInt(usdToMicroUsd(usd)) * factor, PPM));
  return {
    inputMicroUsdPerMillion: apply(offer.inputUsdPerMillion),
    outputMicroUsdPerMillion: apply(offer.outputUsdPerMillion),
  };
}

/**
 * Cost of `usage` at `prices`, less `discountPercent` (batch), in whole µ$ rounded up. Also the
 * maximum cost of a request when given its input estimate and `max_tokens` (what a spend
 * reservation holds).
 */
export function costMicroUsd(usage: TokenUsage, prices: TokenPrices, discountPercent = 0): number {
  const discount = percentToPpm(discountPercent, 'discountPercent');
  if (discount > PPM) throw new RangeError('discountPercent must not exceed 100');
  // Units: tokens × µ$ per 1M tokens = 1e-6 µ$; × ppm = 1e-12 µ$.
  const exact =
    (nonNegativeInt(usage.inputTokens, 'inputTokens') *
      nonNegativeInt(prices.inputMicroUsdPerMillion, 'input price') +
      nonNegativeInt(usage.outputTokens, 'outputTokens') *
        nonNegativeInt(prices.outputMicroUsdPerMillion, 'output price')) *
    (PPM - discount);
  return Number(divCeil(exact, PPM * PPM));
}

/**
 * What a request is billed, by how it ended. The tokens are those the model processed, as the
 * backend reported them:
 * - completed: all of them;
 * - client_disconnected: the tokens generated before the client left (the model did the work);
 * - failed: our failure. With no output delivered the request is free; a stream that broke after
 *   delivering output is billed for its input and the output delivered.
 */
export function billedCostMicroUsd(
  outcome: RequestOutcome,
  usage: TokenUsage,
  prices: TokenPrices,
  discountPercent = 0,
): number {
  if (outcome === 'failed' && usage.outputTokens === 0) return 0;
  return costMicroUsd(usage, prices, discountPercent);
}

/** An exact decimal string of a µ$ amount in USD with 6 decimals: 1234567 → "1.234567". */
export function formatUsd(microUsd: number): string {
  const sign = microUsd < 0 ? '-' : '';
  const digits = nonNegativeInt(Math.abs(microUsd), 'microUsd').toString().padStart(7, '0');
  return `${sign}${digits.slice(0, -6)}.${digits.slice(-6)}`;
}

/** A µ$ amount as a USD number, for JSON fields that are numbers (exact to 6 decimals once printed). */
export function microUsdToUsd(microUsd: number): number {
  return Number(formatUsd(microUsd));
}
