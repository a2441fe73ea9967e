import type { TierlineConfig, TierName } from '../../lib/config/schema';
import { PermissionDeniedError } from '../openai/errors';

/**
 * LoRA (uploaded adapters, fine-tuned models) by tier: Enterprise always, Developer when the
 * config's switch is on, Free never by default. A tier without it answers 403 naming the tier and
 * those that have it.
 */
export function requireLora(config: TierlineConfig, tier: TierName): void {
  if (config.tiers[tier].lora.allowed) return;
  const tiers = Object.entries(config.tiers)
    .filter(([, t]) => t.lora.allowed)
    .map(([name]) => name);
  throw new PermissionDeniedError(
    `LoRA fine-tuning and adapters are not available on the ${tier} tier (available on: ${tiers.join(', ') || 'none'}). ` +
      'See GET /v1/plans for what each tier offers.',
    { code: 'lora_not_available_on_tier' },
  );
}
