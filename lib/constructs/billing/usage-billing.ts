import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction as LambdaTarget } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { Function as IFunction } from 'aws-cdk-lib/aws-lambda';
import { FilterPattern, MetricFilter } from 'aws-cdk-lib/aws-logs';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Topic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { STRIPE_SECRET_ENV } from '../../../lambda/billing/stripe-settings';
import { USAGE_PLANS_ENV, type UsagePlanSettings } from '../../../lambda/customers/tier-switch';
import type { TierlineConfig } from '../../config/schema';
import { managementArns } from '../api/management-arns';
import type { CustomersTable } from '../customers-table';
import { acknowledgeWildcards } from '../fine-tuning/nag-ids';
import type { MeteringTable } from '../metering/metering-table';
import { TierlineFunction } from '../tierline-function';

export interface UsageBillingProps {
  readonly config: TierlineConfig;
  readonly metering: MeteringTable;
  /** The operator notifications topic: the billing alarms notify it. */
  readonly notifications: Topic;
  /** The tier switch (webhook and hourly run): the customers and the stage's usage plans. */
  readonly customers: CustomersTable;
  readonly usagePlans: UsagePlanSettings;
}

/**
 * Concurrent Stripe deliveries the webhook handles at most: Stripe sends a few events per
 * subscription and month, and retries whatever is throttled, so a flood of forged requests (each
 * refused by its signature) is held to this.
 */
export const WEBHOOK_RESERVED_CONCURRENCY = 2;

/** Where Stripe delivers: the URL the operator registers as the webhook endpoint. */
export const BILLING_WEBHOOK_PATH = '/v1/billing/webhook';

/** CloudWatch namespace of the billing metrics (from the sender's log lines). */
export const BILLING_METRICS_NAMESPACE = 'Tierline/Billing';

/**
 * Usage billing in AWS: the Stripe settings secret (the operator fills it: docs/operating.md,
 * "Billing with Stripe"), the sender that reports each closed hour's usage to Stripe and cuts the
 * threshold invoices (lambda/billing/usage-sender.ts), run every hour, and its alarms: a failed
 * run, usage that reached the ledger after its hour was sent, an event pending past Stripe's
 * identifier window.
 */
export class UsageBilling extends Construct {
  public readonly sender: TierlineFunction;
  /** Stripe's webhook (`POST /v1/billing/webhook`, no API key: the signature authenticates). */
  public readonly webhook: TierlineFunction;
  public readonly stripeSecret: Secret;
  public readonly differenceAlarm: Alarm;

  constructor(scope: Construct, id: string, props: UsageBillingProps) {
    super(scope, id);
    const env = props.config.environment;
    const removalPolicy = env.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    const key = new Key(this, 'StripeSecretKey', {
      description: 'Tierline Stripe settings',
      enableKeyRotation: true,
      removalPolicy,
    });
    this.stripeSecret = new Secret(this, 'StripeSecret', {
      description:
        'Tierline billing: JSON {secretKey, meterEventName, priceId, webhookSecret} (docs/operating.md)',
      encryptionKey: key,
      removalPolicy,
    });
    Validations.of(this.stripeSecret).acknowledge({
      id: 'AwsSolutions::AwsSolutions-SMG4',
      reason:
        'A Stripe API key is rolled in the Stripe Dashboard, not by a Secrets Manager rotation function: the ' +
        'operator puts the new key here (docs/operating.md).',
    });

    this.sender = new TierlineFunction(this, 'Sender', {
      config: props.config,
      handlerFile: 'billing-sender.ts',
      description: 'Tierline: reports each closed hour of Developer usage to Stripe, exactly once',
      logRetention: env.logRetentionDays,
      removalPolicy,
      memorySize: 512,
      // A run settles at most 48 hours per organization; overlapping runs are safe (every step is
      // conditional) but pointless.
      timeout: Duration.minutes(10),
    });
    this.webhook = this.createWebhook(props, removalPolicy);
    for (const fn of [this.sender, this.webhook]) {
      props.metering.bindForBilling(fn.function);
      fn.function.addEnvironment(STRIPE_SECRET_ENV, this.stripeSecret.secretArn);
      this.stripeSecret.grantRead(fn.function);
      this.grantTierSwitch(fn, props);
    }

    // At minute 25: the previous hour closes 20 minutes after its end (usage-sender.ts CLOSE_MARGIN_MS).
    const schedule = new Rule(this, 'Schedule', {
      description: 'Runs the billing usage sender every hour',
      schedule: Schedule.cron({ minute: '25' }),
      targets: [new LambdaTarget(this.sender.function, { retryAttempts: 0 })],
    });
    Validations.of(schedule).acknowledge({
      id: 'Serverless::Serverless-EventBusDLQ',
      reason:
        'A schedule event carries nothing to keep: the next hourly run settles every hour not yet settled.',
    });
    Validations.of(this.sender.function).acknowledge({
      id: 'Serverless::Serverless-LambdaDLQ',
      reason:
        'Invoked hourly by a schedule with nothing in its event: a failed run leaves its hours unsettled ' +
        '(and its pending events written ahead), the next run takes them again; the Errors alarm tells the operator.',
    });

    const alarm = (alarmId: string, description: string, metric: Alarm['metric']) => {
      const created = new Alarm(this, alarmId, {
        alarmDescription: description,
        metric,
        threshold: 0,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      created.addAlarmAction(new SnsAction(props.notifications));
      return created;
    };
    alarm(
      'SenderErrorsAlarm',
      'The billing usage sender failed: Developer usage is not reaching Stripe. See its log group ' +
        '(an unset Stripe secret says so there).',
      this.sender.function.metricErrors({ period: Duration.hours(1) }),
    );
    const differences = new MetricFilter(this, 'DifferenceFilter', {
      logGroup: this.sender.logGroup,
      filterPattern: FilterPattern.numberValue('$.billingDifferenceMicroUsd', '>', 0),
      metricNamespace: BILLING_METRICS_NAMESPACE,
      metricName: 'UsageDifferenceMicroUsd',
      metricValue: '$.billingDifferenceMicroUsd',
    });
    this.differenceAlarm = alarm(
      'DifferenceAlarm',
      'Usage reached the ledger after its hour had been sent to Stripe (a replayed dead letter, a late ' +
        'record): the sender sent the difference. Check why the records were late.',
      differences.metric({ period: Duration.hours(1), statistic: 'Sum' }),
    );
    const stale = new MetricFilter(this, 'StaleFilter', {
      logGroup: this.sender.logGroup,
      filterPattern: FilterPattern.numberValue('$.billingStalePending', '=', 1),
      metricNamespace: BILLING_METRICS_NAMESPACE,
      metricName: 'StalePendingEvents',
      metricValue: '1',
    });
    alarm(
      'StaleAlarm',
      'A usage event has been pending longer than Stripe remembers meter event identifiers (24 h): it is not ' +
        'resent automatically. Check the meter event summaries in Stripe, then commit or resend it.',
      stale.metric({ period: Duration.hours(1), statistic: 'Sum' }),
    );
  }

  /** Stripe's webhook function (its route is added by the API: `TierlineApi.addSignedWebhook`). */
  private createWebhook(props: UsageBillingProps, removalPolicy: RemovalPolicy): TierlineFunction {
    const webhook = new TierlineFunction(this, 'Webhook', {
      config: props.config,
      handlerFile: 'billing-webhook.ts',
      description: 'Tierline: Stripe webhook (upgrades, downgrades, failed and paid invoices)',
      logRetention: props.config.environment.logRetentionDays,
      removalPolicy,
      memorySize: 512,
      // Stripe waits for an answer a few seconds; a tier switch is a handful of calls.
      timeout: Duration.seconds(20),
      reservedConcurrentExecutions: WEBHOOK_RESERVED_CONCURRENCY,
    });
    Validations.of(webhook.function).acknowledge({
      id: 'Serverless::Serverless-LambdaDLQ',
      reason:
        'Invoked synchronously by API Gateway for Stripe: a failure is answered 5xx and Stripe redelivers the ' +
        'event for up to three days; nothing is queued here.',
    });
    return webhook;
  }

  /**
   * Lets the API function serve `/v1/billing` (lambda/composition/aws-billing.ts `awsBillingApi`):
   * the Stripe settings. Its metering table access it has already (billing accounts are items
   * there); it switches no tier.
   */
  public grantBillingApi(fn: IFunction): void {
    fn.addEnvironment(STRIPE_SECRET_ENV, this.stripeSecret.secretArn);
    this.stripeSecret.grantRead(fn);
  }

  /**
   * The tier switch's calls (lambda/customers/tier-switch.ts): the customer and its keys updated,
   * its API Gateway key moved between the stage's usage plans, a custom plan deleted, and a key of
   * its own made for a customer that leaves a pooled tier (Free) for a paid one.
   */
  private grantTierSwitch(fn: TierlineFunction, props: UsageBillingProps): void {
    props.customers.bindForTierSwitch(fn.function);
    fn.function.addEnvironment(USAGE_PLANS_ENV, Stack.of(this).toJsonString(props.usagePlans));
    const { usagePlans: plans, apiKeys, apiKeyTags } = managementArns();
    const statements = [
      // GetUsagePlans (which plans hold a key: the repair of an interrupted move); GetApiKeys (a
      // pooled customer's new key, found by its value on a retry).
      new PolicyStatement({ actions: ['apigateway:GET'], resources: [plans, apiKeys] }),
      // CreateUsagePlanKey; CreateApiKey (a pooled customer's own key, on its upgrade).
      new PolicyStatement({
        actions: ['apigateway:POST'],
        resources: [`${plans}/*/keys`, apiKeys],
      }),
      // CreateApiKey with tags (see managementArns).
      new PolicyStatement({ actions: ['apigateway:PUT'], resources: [apiKeyTags] }),
      // DeleteUsagePlanKey; UpdateUsagePlan and DeleteUsagePlan (a custom plan removed).
      new PolicyStatement({
        actions: ['apigateway:DELETE'],
        resources: [`${plans}/*/keys/*`, `${plans}/*`],
      }),
      new PolicyStatement({ actions: ['apigateway:PATCH'], resources: [`${plans}/*`] }),
    ];
    for (const statement of statements) fn.function.addToRolePolicy(statement);
    if (fn.function.role) {
      acknowledgeWildcards(
        fn.function.role,
        [`${plans}/*/keys`, `${plans}/*/keys/*`, `${plans}/*`],
        "A customer's key moves between this stage's tier plans and its own custom plan, whose id the " +
          'operator CLI creates at run time: usage plans cannot be named in a policy before they exist.',
      );
      acknowledgeWildcards(
        fn.function.role,
        [apiKeyTags],
        "A pooled (Free) customer's own API Gateway key is made, tagged, on its upgrade: its id, in " +
          "the tags resource's ARN, does not exist before the upgrade.",
      );
    }
  }
}
