import { spendThresholdCents } from '../../../lambda/metering/spend-limit-settings';
import { BadRequestError } from '../../../lambda/openai/errors';

/**
 * The one body check behind `POST /organization/spend_limit` and
 * `POST /organization/projects/{id}/spend_limit`: OpenAI's `threshold_amount` in cents, USD, month.
 */
const valid = { threshold_amount: 2_500, currency: 'USD', interval: 'month' };

function refusal(body: Record<string, unknown>) {
  try {
    spendThresholdCents(body);
  } catch (error) {
    expect(error).toBeInstanceOf(BadRequestError);
    return (error as BadRequestError).toBody().error;
  }
  throw new Error('the body was accepted');
}

describe('spendThresholdCents', () => {
  it('takes whole cents from 1 to $10,000,000', () => {
    expect(spendThresholdCents(valid)).toBe(2_500);
    expect(spendThresholdCents({ ...valid, threshold_amount: 1 })).toBe(1);
    expect(spendThresholdCents({ ...valid, threshold_amount: 1_000_000_000 })).toBe(1_000_000_000);
  });

  it.each([0, -5, 1.5, 1_000_000_001, Number.MAX_SAFE_INTEGER + 1, '2500', null, undefined])(
    'refuses a threshold_amount of %p as invalid_value',
    (threshold_amount) => {
      expect(refusal({ ...valid, threshold_amount })).toEqual({
        message: "'threshold_amount' must be a whole number of cents from 1 to 1000000000.",
        type: 'invalid_request_error',
        param: 'threshold_amount',
        code: 'invalid_value',
      });
    },
  );

  it.each([
    ['currency', 'EUR', "'currency' must be 'USD'."],
    ['interval', 'day', "'interval' must be 'month'."],
    ['interval', undefined, "'interval' must be 'month'."],
  ])('refuses %s %p', (param, value, message) => {
    expect(refusal({ ...valid, [param]: value })).toMatchObject({
      message,
      param,
      code: 'invalid_value',
    });
  });

  it('refuses an unknown field first, its name cut to 80 characters in the message', () => {
    const name = 'x'.repeat(200);
    expect(refusal({ [name]: 1, threshold_amount: 0 })).toMatchObject({
      message: `Unknown field '${'x'.repeat(80)}'.`,
      code: 'unknown_parameter',
    });
  });

  it('judges the fields in order: the amount before the currency', () => {
    expect(refusal({ threshold_amount: 0, currency: 'EUR' })).toMatchObject({
      param: 'threshold_amount',
    });
  });
});
