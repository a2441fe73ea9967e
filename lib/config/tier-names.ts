/** The three tiers. Kept apart from the zod schema so handlers can import it without bundling zod. */
export const TIER_NAMES = ['free', 'developer', 'enterprise'] as const;
export type TierName = (typeof TIER_NAMES)[number];
