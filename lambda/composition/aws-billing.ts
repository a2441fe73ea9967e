import { APIGatewayClient } from '@aws-sdk/client-api-gateway';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type Stripe from 'stripe';
import type { BillingNotices } from '../billing/billing-notices';
import { sesMessage } from '../billing/billing-notices';
import type { BillingService } from '../billing/billing-service';
import { createStripeClient, StripeBillingProvider } from '../billing/stripe-provider';
import { readStripeSettings, STRIPE_SECRET_ENV } from '../billing/stripe-settings';
import { TierSwitch, USAGE_PLANS_ENV, usagePlanSettingsFrom } from '../customers/tier-switch';
import { awsClientOptions } from '../storage/aws-clients';
import type { Stores } from './aws-stores';
import { billingService } from './billing';
import { requiredEnv } from './environment';
import { customersRepository } from './repositories';

export interface AwsBilling {
  stripe: Stripe;
  webhookSecret: string;
  provider: StripeBillingProvider;
  service: BillingService;
}

/**
 * Billing in a Lambda function: Stripe from the settings secret, the tier switch on API Gateway
 * (the usage plans named by the environment), the billing service on the stores. The payment
 * e-mails are written to the log as SES `SendEmail` input (`log`): no sender identity is verified
 * in SES by this app, so none is sent from here.
 */
export async function awsBilling(
  stores: Pick<Stores, 'doc' | 'tables'>,
  options: { graceDays: number; log: (notice: unknown) => void },
): Promise<AwsBilling> {
  const secrets = new SecretsManagerClient(awsClientOptions());
  const settings = await readStripeSettings(secrets, requiredEnv(STRIPE_SECRET_ENV));
  const stripe = createStripeClient(settings.secretKey);
  const provider = new StripeBillingProvider(stripe, settings);
  const tiers = new TierSwitch(
    customersRepository(stores),
    new APIGatewayClient(awsClientOptions()),
    usagePlanSettingsFrom(requiredEnv(USAGE_PLANS_ENV)),
  );
  const notices: BillingNotices = {
    send: async (notice) =>
      options.log({ billingNotice: notice.kind, ses: sesMessage(notice, 'billing@tierline') }),
  };
  const service = billingService(stores, provider, {
    tiers: { setTier: async (customerId, tier) => void (await tiers.setTier(customerId, tier)) },
    notices,
    graceDays: options.graceDays,
  });
  return { stripe, webhookSecret: settings.webhookSecret, provider, service };
}
