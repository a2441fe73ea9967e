import { fineTunedPrice, publicPlans } from '../../../lambda/customers/plans';
import { loadConfig } from '../../../lib/config/load';

const config = loadConfig({ env: 'dev' });
const plans = publicPlans(config).data;
const plan = (id: string) => {
  const found = plans.find((p) => p.id === id);
  if (!found) throw new Error(`no plan ${id}`);
  return found;
};

describe('GET /v1/plans publishes LoRA fine-tuning', () => {
  it('offers it to Developer at a premium and Enterprise, not Free', () => {
    expect(plan('free').features.lora_fine_tuning.available).toBe(false);
    expect(plan('developer').features.lora_fine_tuning).toEqual({
      available: true,
      premium_percent: 25,
      training_usd_per_million_tokens: 3,
      lora_ranks: [8, 16, 32, 64],
      lora_alpha: { min: 1, max: 128 },
      target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
    });
    expect(plan('enterprise').features.lora_fine_tuning.available).toBe(true);
  });

  it('shows the fine-tuned price of every model, and which can be trained here', () => {
    const developer8b = plan('developer').models.find((m) => m.id === 'qwen3-8b');
    expect(developer8b?.fine_tuned_pricing).toEqual({
      input_usd_per_million_tokens: 0.0625,
      output_usd_per_million_tokens: 0.1,
    });
    expect(developer8b?.trainable).toBe(true);
    const enterpriseMid = plan('enterprise').models.find((m) => m.id === 'qwen3-14b');
    expect(enterpriseMid?.fine_tuned_pricing).toEqual({
      input_usd_per_million_tokens: 0.59,
      output_usd_per_million_tokens: 0.79,
    });
    expect(enterpriseMid?.trainable).toBe(true);
    // A model without a training instance type: uploaded adapters only.
    expect(plan('enterprise').models.find((m) => m.id === 'qwen3-32b')?.trainable).toBe(false);
    expect(plan('free').models.every((m) => m.fine_tuned_pricing === null && !m.trainable)).toBe(
      true,
    );
  });

  it('rounds the premium price to a millionth of a dollar', () => {
    expect(fineTunedPrice(0.05, 25)).toBe(0.0625);
    expect(fineTunedPrice(0.79, 25)).toBe(0.9875);
    expect(fineTunedPrice(0.1, 0)).toBe(0.1);
  });
});
