import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction as LambdaTarget } from 'aws-cdk-lib/aws-events-targets';
import { Key } from 'aws-cdk-lib/aws-kms';
import { FilterPattern, MetricFilter } from 'aws-cdk-lib/aws-logs';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Topic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { STRIPE_SECRET_ENV } from '../../../lambda/billing/stripe-settings';
import type { TierlineConfig } from '../../config/schema';
import type { MeteringTable } from '../metering/metering-table';
import { TierlineFunction } from '../tierline-function';

export interface UsageBillingProps {
  readonly config: TierlineConfig;
  readonly metering: MeteringTable;
  /** The operator notifications topic: the billing alarms notify it. */
  readonly notifications: Topic;
}

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
    props.metering.bindForBilling(this.sender.function);
    this.sender.function.addEnvironment(STRIPE_SECRET_ENV, this.stripeSecret.secretArn);
    this.stripeSecret.grantRead(this.sender.function);

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
}
