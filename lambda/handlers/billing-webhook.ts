import { Logger } from '@aws-lambda-powertools/logger';
import { handleStripeWebhook, type WebhookRequest } from '../billing/webhook';
import { awsBilling } from '../composition/aws-billing';
import { awsStores } from '../composition/aws-stores';
import { usageTiersOf } from '../composition/billing';
import { bundledConfig } from '../config';

// Created once per execution environment; API Gateway calls it for Stripe's deliveries
// (`POST /v1/billing/webhook`, no API key: the Stripe signature is the authentication).
const logger = new Logger({ serviceName: 'billing-webhook' });
const stores = awsStores({ documentClient: 'sdk' });
let billing: ReturnType<typeof awsBilling> | undefined;

export const handler = async (request: WebhookRequest) => {
  billing ??= awsBilling(stores, {
    graceDays: bundledConfig().billing.paymentGraceDays,
    usageTiers: usageTiersOf(bundledConfig()),
    log: (notice) => logger.info('billing notice', { notice }),
    logError: (message, details) => logger.error(message, details),
  }).catch((error: unknown) => {
    billing = undefined;
    throw error;
  });
  const { stripe, webhookSecret, service } = await billing;
  const response = await handleStripeWebhook(request, { stripe, secret: webhookSecret, service });
  if (response.statusCode !== 200) logger.warn('webhook refused', { body: response.body });
  return response;
};
