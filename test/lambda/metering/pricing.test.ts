import fc from 'fast-check';
import {
  billedCostMicroUsd,
  costMicroUsd,
  formatUsd,
  microUsdToUsd,
  pricesOf,
  type TokenPrices,
  usdToMicroUsd,
} from '../../../lambda/metering/pricing';

// $0.59 per 1M input tokens, $0.79 per 1M output tokens.
const prices: TokenPrices = { inputMicroUsdPerMillion: 590_000, outputMicroUsdPerMillion: 790_000 };

describe('pricing', () => {
  it('converts configured USD prices to integer µ$ per 1M tokens without float drift', () => {
    expect(pricesOf({ inputUsdPerMillion: 0.59, outputUsdPerMillion: 0.79 })).toEqual(prices);
    expect(pricesOf({ inputUsdPerMillion: 0.1 + 0.2, outputUsdPerMillion: 0 })).toEqual({
      inputMicroUsdPerMillion: 300_000,
      outputMicroUsdPerMillion: 0,
    });
  });

  it('applies a fine-tune premium to both prices, rounded up to whole µ$ per 1M tokens', () => {
    expect(pricesOf({ inputUsdPerMillion: 0.59, outputUsdPerMillion: 0.000001 }, 25)).toEqual({
      inputMicroUsdPerMillion: 737_500,
      outputMicroUsdPerMillion: 2,
    });
  });

  it('prices input and output apart, per 1M tokens', () => {
    const cost = costMicroUsd({ inputTokens: 1_000_000, outputTokens: 2_000_000 }, prices);

    expect(cost).toBe(590_000 + 2 * 790_000);
  });

  it('rounds up once per request, not per token', () => {
    // 3 × 0.59 + 1 × 0.79 = 2.56 µ$ exactly → 3 µ$ (per token rounding would give 1+1+1+1 = 4).
    expect(costMicroUsd({ inputTokens: 3, outputTokens: 1 }, prices)).toBe(3);
    expect(costMicroUsd({ inputTokens: 0, outputTokens: 0 }, prices)).toBe(0);
    // 100 × 0.59 = 59 µ$ exactly: no rounding.
    expect(costMicroUsd({ inputTokens: 100, outputTokens: 0 }, prices)).toBe(59);
  });

  it('applies a batch discount to the exact amount before rounding', () => {
    expect(costMicroUsd({ inputTokens: 1_000_000, outputTokens: 1_000_000 }, prices, 50)).toBe(
      690_000,
    );
    expect(costMicroUsd({ inputTokens: 3, outputTokens: 1 }, prices, 50)).toBe(2); // 1.28 → 2
    expect(costMicroUsd({ inputTokens: 1_000_000, outputTokens: 0 }, prices, 100)).toBe(0);
  });

  it('rejects token counts and discounts that are not valid', () => {
    expect(() => costMicroUsd({ inputTokens: -1, outputTokens: 0 }, prices)).toThrow(RangeError);
    expect(() => costMicroUsd({ inputTokens: 1.5, outputTokens: 0 }, prices)).toThrow(RangeError);
    expect(() => costMicroUsd({ inputTokens: 1, outputTokens: 0 }, prices, 101)).toThrow(
      RangeError,
    );
  });

  it('never charges less than the exact amount, nor a whole µ$ more (property)', () => {
    fc.assert(
      fc.property(
        fc.nat(10_000_000),
        fc.nat(10_000_000),
        fc.nat(100_000_000),
        fc.nat(100_000_000),
        (inputTokens, outputTokens, inputPrice, outputPrice) => {
          const p = { inputMicroUsdPerMillion: inputPrice, outputMicroUsdPerMillion: outputPrice };
          const exactTimesMillion =
            BigInt(inputTokens) * BigInt(inputPrice) + BigInt(outputTokens) * BigInt(outputPrice);
          const cost = BigInt(costMicroUsd({ inputTokens, outputTokens }, p)) * 1_000_000n;
          return cost >= exactTimesMillion && cost - exactTimesMillion < 1_000_000n;
        },
      ),
    );
  });

  it('bills by outcome: a failure that delivered no output is free', () => {
    const usage = { inputTokens: 1_000, outputTokens: 0 };

    expect(billedCostMicroUsd('failed', usage, prices)).toBe(0);
    expect(billedCostMicroUsd('failed', { ...usage, outputTokens: 10 }, prices)).toBe(598);
    expect(billedCostMicroUsd('client_disconnected', usage, prices)).toBe(590);
    expect(billedCostMicroUsd('completed', usage, prices)).toBe(590);
  });

  it('formats µ$ as exact USD with 6 decimals', () => {
    expect(formatUsd(0)).toBe('0.000000');
    expect(formatUsd(1)).toBe('0.000001');
    expect(formatUsd(1_234_567)).toBe('1.234567');
    expect(formatUsd(12_000_000_000)).toBe('12000.000000');
    expect(formatUsd(-5)).toBe('-0.000005');
    expect(microUsdToUsd(2_560_000)).toBe(2.56);
    expect(usdToMicroUsd(19.99)).toBe(19_990_000);
  });
});
