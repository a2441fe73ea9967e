import { Logger } from '@aws-lambda-powertools/logger';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createStripeClient, StripeBillingProvider } from '../billing/stripe-provider';
import { readStripeSettings, STRIPE_SECRET_ENV } from '../billing/stripe-settings';
import type { UsageSender } from '../billing/usage-sender';
import { awsStores } from '../composition/aws-stores';
import { usageSender } from '../composition/billing';
import { requiredEnv } from '../composition/environment';
import { awsClientOptions } from '../storage/aws-clients';

// Created once per execution environment; EventBridge invokes it every hour.
const logger = new Logger({ serviceName: 'billing-sender' });
// The SDK document client: an hourly job, not the request path.
const stores = awsStores({ documentClient: 'sdk' });
const secretArn = requiredEnv(STRIPE_SECRET_ENV);
const secrets = new SecretsManagerClient(awsClientOptions());
let sender: Promise<UsageSender> | undefined;

async function createSender(): Promise<UsageSender> {
  const settings = await readStripeSettings(secrets, secretArn);
  const provider = new StripeBillingProvider(createStripeClient(settings.secretKey), settings);
  return usageSender(stores, provider);
}

export const handler = async () => {
  sender ??= createSender().catch((error: unknown) => {
    sender = undefined;
    throw error;
  });
  const report = await (await sender).run();
  // The log lines the alarms count (metric filters in lib/constructs/billing/usage-billing.ts).
  for (const difference of report.differences) {
    logger.warn('usage reached the ledger after its hour was sent', {
      billingDifferenceMicroUsd: difference.missingMicroUsd,
      ...difference,
    });
  }
  for (const stale of report.stale) {
    logger.error('a usage event is pending past Stripe identifier window: not resent', {
      billingStalePending: 1,
      ...stale,
    });
  }
  logger.info('billing run', {
    sentMicroUsd: report.sentMicroUsd,
    events: report.events,
    hoursSettled: report.hoursSettled,
    invoices: report.invoices.length,
  });
  return { sentMicroUsd: report.sentMicroUsd, events: report.events };
};
