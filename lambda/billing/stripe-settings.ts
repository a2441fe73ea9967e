import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { z } from 'zod';

/** Environment variable with the ARN of the secret that holds the Stripe settings. */
export const STRIPE_SECRET_ENV = 'STRIPE_SECRET_ARN';

/**
 * What the operator puts in the Stripe secret (JSON): the restricted or secret API key, the meter's
 * event name and the metered price (stripe-provider.ts), and the webhook endpoint's signing secret.
 */
export const stripeSettingsSchema = z.object({
  secretKey: z.string().regex(/^(sk|rk)_(test|live)_/, 'secretKey must be a Stripe sk_ or rk_ key'),
  meterEventName: z.string().min(1).max(100),
  priceId: z.string().regex(/^price_/, 'priceId must be a Stripe price id (price_...)'),
  webhookSecret: z.string().regex(/^whsec_/, 'webhookSecret must be a signing secret (whsec_...)'),
});
export type StripeSettings = z.infer<typeof stripeSettingsSchema>;

/** Reads and validates the settings; the message says what to fix, never the secret's value. */
export async function readStripeSettings(
  secrets: Pick<SecretsManagerClient, 'send'>,
  secretArn: string,
): Promise<StripeSettings> {
  const { SecretString } = await secrets.send(new GetSecretValueCommand({ SecretId: secretArn }));
  let value: unknown;
  try {
    value = JSON.parse(SecretString ?? '');
  } catch {
    value = undefined;
  }
  const parsed = stripeSettingsSchema.safeParse(value);
  if (!parsed.success) {
    throw new Error(
      `The Stripe secret ${secretArn} is not set up: put JSON with secretKey, meterEventName, priceId ` +
        `and webhookSecret in it (docs/operating.md, "Billing with Stripe"). ${parsed.error.issues
          .map((issue) => `${issue.path.join('.') || 'value'}: ${issue.code}`)
          .join('; ')}`,
    );
  }
  return parsed.data;
}
