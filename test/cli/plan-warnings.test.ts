import { customPlanWarnings } from '../../cli/plans/plan-warnings';

describe('plans create-custom warnings', () => {
  it('warns about a model whose TPM or TPD cannot hold the default output allowance, and only about it', () => {
    const warnings = customPlanWarnings({
      small: { rpm: 10, rpd: 100, tpm: 1_000, tpd: 100_000 },
      smallDay: { rpm: 10, rpd: 100, tpm: 100_000, tpd: 900 },
      roomy: { rpm: 10, rpd: 100, tpm: 50_000, tpd: 1_000_000 },
    });

    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toContain(
      'small: a budget of 1000 tokens is at most the default output allowance of 1024',
    );
    expect(warnings[0]).toContain('set max_completion_tokens');
    expect(warnings[1]).toContain('smallDay: a budget of 900 tokens');
  });
});
