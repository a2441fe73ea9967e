import { Logger } from '@aws-lambda-powertools/logger';
import type { BillingService } from '../billing/billing-service';
import type { UsageSender } from '../billing/usage-sender';
import { awsBilling } from '../composition/aws-billing';
import { awsStores } from '../composition/aws-stores';
import { usageSender, usageTiersOf } from '../composition/billing';
import { bundledConfig } from '../config';

// Created once per execution environment; EventBridge invokes it every hour.
const logger = new Logger({ serviceName: 'billing-sender' });
// The SDK document client: an hourly job, not the request path.
const stores = awsStores({ documentClient: 'sdk' });
let sender: Promise<{ usage: UsageSender; service: BillingService }> | undefined;

async function createSender() {
  const billing = await awsBilling(stores, {
    graceDays: bundledConfig().billing.paymentGraceDays,
    usageTiers: usageTiersOf(bundledConfig()),
    log: (notice) => logger.info('billing notice', { notice }),
    logError: (message, details) => logger.error(message, details),
  });
  return { usage: usageSender(stores, billing.provider), service: billing.service };
}

export const handler = async () => {
  sender ??= createSender().catch((error: unknown) => {
    sender = undefined;
    throw error;
  });
  const { usage, service } = await sender;
  const report = await usage.run();
  // Unpaid past their grace: Free limits (billing-service.ts `expireGraces`).
  const limited = await service.expireGraces();
  // Usage tiers that days since the first payment reached (billing-service.ts `applyUsageTiers`).
  const raised = await service.applyUsageTiers();
  if (raised > 0) logger.info('usage tiers changed', { organizations: raised });
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
    limited,
  });
  return { sentMicroUsd: report.sentMicroUsd, events: report.events };
};
