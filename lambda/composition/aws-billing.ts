import { APIGatewayClient } from '@aws-sdk/client-api-gateway';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type Stripe from 'stripe';
import { BillingAccounts } from '../billing/billing-accounts';
import type { BillingNotice, BillingNotices } from '../billing/billing-notices';
import type { BillingService } from '../billing/billing-service';
import { type BillingApi, BillingSummaries } from '../billing/billing-summary';
import { createStripeClient, StripeBillingProvider } from '../billing/stripe-provider';
import { readStripeSettings, STRIPE_SECRET_ENV } from '../billing/stripe-settings';
import { bundledConfig } from '../config';
import { TierSwitch, USAGE_PLANS_ENV, usagePlanSettingsFrom } from '../customers/tier-switch';
import { type Mailer, type MailFailureLog, sendEmailInput, sendOrLog } from '../mail/mail';
import { awsClientOptions } from '../storage/aws-clients';
import { awsMailer } from './aws-mail';
import type { Stores } from './aws-stores';
import type { BillingServiceParts } from './billing';
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
 * e-mails go through SES where the config names a sender, to the log (`log`) where it does not.
 */
export async function awsBilling(
  stores: Pick<Stores, 'doc' | 'tables'>,
  options: {
    graceDays: number;
    usageTiers?: BillingServiceParts['usageTiers'];
    log: (notice: unknown) => void;
    logError: MailFailureLog;
  },
): Promise<AwsBilling> {
  const secrets = new SecretsManagerClient(awsClientOptions());
  const settings = await readStripeSettings(secrets, requiredEnv(STRIPE_SECRET_ENV));
  const stripe = createStripeClient(settings.secretKey);
  const provider = new StripeBillingProvider(stripe, settings);
  const tiers = new TierSwitch(
    customersRepository(stores),
    new APIGatewayClient(awsClientOptions()),
    usagePlanSettingsFrom(requiredEnv(USAGE_PLANS_ENV)),
    bundledConfig(),
  );
  const notices = billingNoticesBy(awsMailer(), options);
  const service = billingService(stores, provider, {
    tiers: { setTier: async (customerId, tier) => void (await tiers.setTier(customerId, tier)) },
    notices,
    graceDays: options.graceDays,
    usageTiers: options.usageTiers,
  });
  return { stripe, webhookSecret: settings.webhookSecret, provider, service };
}

/**
 * Billing's notices through SES, or to the log without a sender. A failed send is logged with the
 * notice (organization and kind) and the caller goes on: the payment state it reports is already
 * moved, and moves once, so a Stripe redelivery or the next hourly run would not send it again.
 */
export function billingNoticesBy(
  mailer: Mailer | undefined,
  options: { log: (notice: unknown) => void; logError: MailFailureLog },
): BillingNotices {
  const about = (notice: BillingNotice) => ({
    billingNotice: notice.kind,
    customer: notice.customerId,
  });
  return {
    send: async (notice) => {
      if (mailer) {
        await sendOrLog(mailer, notice, about(notice), options.logError);
        return;
      }
      options.log({
        ...about(notice),
        sent: false,
        ses: sendEmailInput(notice, { from: '(no sender configured)' }),
      });
    },
  };
}

/**
 * `/v1/billing` in the API function: Stripe read from the settings secret on the first billing
 * request (never on the request path of any other route). These routes never switch a tier: that
 * is the webhook's (a tier changes when Stripe reports the payment method saved or the
 * subscription ended), so the API function gets no API Gateway permission.
 */
export function awsBillingApi(
  stores: Pick<Stores, 'doc' | 'tables'>,
  graceDays: number,
): BillingApi {
  let built: Promise<BillingApi> | undefined;
  const billing = () => {
    built ??= (async () => {
      const secrets = new SecretsManagerClient(awsClientOptions());
      const settings = await readStripeSettings(secrets, requiredEnv(STRIPE_SECRET_ENV));
      const provider = new StripeBillingProvider(createStripeClient(settings.secretKey), settings);
      const noTierSwitch = async () => {
        throw new Error('the API function never switches tiers: the billing webhook does');
      };
      const service = billingService(stores, provider, {
        tiers: { setTier: noTierSwitch },
        graceDays,
      });
      const summaries = new BillingSummaries({
        doc: stores.doc,
        tableName: stores.tables.metering,
        accounts: new BillingAccounts(stores.doc, stores.tables.metering),
        provider,
        service,
      });
      return { service, summaries };
    })().catch((error: unknown) => {
      built = undefined;
      throw error;
    });
    return built;
  };
  return {
    service: {
      startUpgrade: async (...args) => (await billing()).service.startUpgrade(...args),
      requestDowngrade: async (customerId) =>
        (await billing()).service.requestDowngrade(customerId),
    },
    summaries: { summary: async (customerId) => (await billing()).summaries.summary(customerId) },
  };
}
