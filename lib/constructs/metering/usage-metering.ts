import { ArnFormat, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction as LambdaTarget, SnsTopic } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import {
  FilterCriteria,
  FilterRule,
  type Function as LambdaFunction,
  StartingPosition,
} from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import {
  EVENT_SOURCE_ENV,
  eventSource,
  SPEND_ALERT_DETAIL_TYPE,
} from '../../../lambda/metering/spend-alerts';
import type { TierlineConfig } from '../../config/schema';
import { TierlineFunction } from '../tierline-function';
import type { LedgerDeadLetters } from './ledger-dead-letters';
import type { MeteringTable } from './metering-table';

/**
 * The operator notifications topic's name: known without a cross-stack reference, so the inference
 * stack's alarms notify it and can still be destroyed on their own.
 */
export function notificationsTopicName(environmentName: string): string {
  return `tierline-${environmentName}-notifications`;
}

export interface UsageMeteringProps {
  readonly config: TierlineConfig;
  readonly metering: MeteringTable;
  readonly ledgerDeadLetters: LedgerDeadLetters;
}

/**
 * The stateless side of metering: the aggregator that keeps usage aggregates in step with the
 * ledger, the reconciler that bills and releases the reservations of crashed requests (every
 * minute), the operator notifications topic (subscribe an e-mail address to it), the alarms on
 * unbilled usage waiting in the ledger's dead-letter queue and on failed reconciler runs, and the
 * rule that forwards spend-limit alerts to the topic.
 */
export class UsageMetering extends Construct {
  public readonly aggregator: TierlineFunction;
  public readonly reconciler: TierlineFunction;
  public readonly reconcilerAlarm: Alarm;
  public readonly notifications: Topic;
  public readonly deadLetterAlarm: Alarm;
  /** Ledger records the aggregator gave up on (usage views stale) or spend alerts EventBridge could not deliver. */
  public readonly failuresAlarm: Alarm;
  private readonly envName: string;

  constructor(scope: Construct, id: string, props: UsageMeteringProps) {
    super(scope, id);
    const env = props.config.environment;
    this.envName = env.name;
    const removalPolicy = env.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    this.notifications = this.notificationsTopic(env.name, removalPolicy);

    this.aggregator = new TierlineFunction(this, 'Aggregator', {
      config: props.config,
      handlerFile: 'usage-aggregator.ts',
      description: 'Tierline: applies each new ledger record to its usage aggregate, exactly once',
      logRetention: env.logRetentionDays,
      removalPolicy,
      memorySize: 256,
      timeout: Duration.seconds(60),
    });
    props.metering.bindForMetering(this.aggregator.function);
    // Stream batches the aggregator gave up on, and spend alerts EventBridge could not deliver.
    const failures = new Queue(this, 'Failures', {
      retentionPeriod: Duration.days(14),
      encryption: QueueEncryption.KMS_MANAGED,
      enforceSSL: true,
    });
    const failuresReason =
      'This queue is itself the dead-letter destination (of the aggregator stream mapping and the spend-alert ' +
      'rule target); nothing consumes it automatically, so a dead-letter queue of its own would hold nothing.';
    Validations.of(failures).acknowledge({
      id: 'AwsSolutions::AwsSolutions-SQS3',
      reason: failuresReason,
    });
    Validations.of(failures).acknowledge({
      id: 'Serverless::Serverless-SQSRedrivePolicy',
      reason: failuresReason,
    });
    Validations.of(this.aggregator.function).acknowledge({
      id: 'Serverless::Serverless-LambdaDLQ',
      reason:
        'Invoked by a DynamoDB stream mapping whose on-failure destination is the Failures queue.',
    });
    this.aggregator.function.addEventSource(
      new DynamoEventSource(props.metering.table, {
        startingPosition: StartingPosition.TRIM_HORIZON,
        batchSize: 100,
        maxBatchingWindow: Duration.seconds(5),
        reportBatchItemFailures: true,
        bisectBatchOnError: true,
        retryAttempts: 10,
        onFailure: new SqsDlq(failures),
        // Only new ledger records change usage; counters and aggregates themselves must not trigger
        // it.
        filters: [
          FilterCriteria.filter({
            eventName: FilterRule.isEqual('INSERT'),
            dynamodb: { Keys: { pk: { S: FilterRule.beginsWith('REQ#') } } },
          }),
        ],
      }),
    );

    this.reconciler = this.reconcilerOnSchedule(props, removalPolicy);
    this.reconcilerAlarm = new Alarm(this, 'ReconcilerErrorsAlarm', {
      alarmDescription:
        'The reservation reconciler failed: crashed requests stay unbilled and keep holding limits and spend ' +
        'until it succeeds. See its log group.',
      metric: this.reconciler.function.metricErrors({ period: Duration.minutes(5) }),
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.reconcilerAlarm.addAlarmAction(new SnsAction(this.notifications));

    this.deadLetterAlarm = new Alarm(this, 'UnbilledUsageAlarm', {
      alarmDescription:
        'Usage records failed to reach the ledger and wait in the dead-letter queue (kept 14 days): fix DynamoDB ' +
        'access, then run `npx tierline usage replay-dead-letters`.',
      metric: props.ledgerDeadLetters.queue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(5),
      }),
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.deadLetterAlarm.addAlarmAction(new SnsAction(this.notifications));

    // Nothing consumes the Failures queue, so a message there is a lost aggregate update or spend
    // alert until someone looks: the ledger stays right, `/v1/usage` and the console lag until the
    // day is recomputed.
    this.failuresAlarm = new Alarm(this, 'AggregationFailuresAlarm', {
      alarmDescription:
        'Ledger records the usage aggregator gave up on, or spend alerts EventBridge could not deliver, wait in ' +
        "the metering Failures queue (kept 14 days): see the aggregator's log, then recompute the affected days.",
      metric: failures.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(5),
        statistic: 'Maximum',
      }),
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.failuresAlarm.addAlarmAction(new SnsAction(this.notifications));

    new Rule(this, 'SpendAlerts', {
      description:
        'Forwards spend-limit threshold alerts (50/75/90%) to the operator notifications topic',
      eventPattern: { source: [eventSource(env.name)], detailType: [SPEND_ALERT_DETAIL_TYPE] },
      targets: [new SnsTopic(this.notifications, { deadLetterQueue: failures })],
    });
  }

  /** The reconciler, run every minute by a schedule that keeps no missed event. */
  private reconcilerOnSchedule(
    props: UsageMeteringProps,
    removalPolicy: RemovalPolicy,
  ): TierlineFunction {
    const env = props.config.environment;
    const reconciler = new TierlineFunction(this, 'Reconciler', {
      config: props.config,
      handlerFile: 'reservation-reconciler.ts',
      description: 'Tierline: bills and releases the reservations of requests whose process died',
      logRetention: env.logRetentionDays,
      removalPolicy,
      memorySize: 256,
      // Shorter than the schedule's minute, so two runs rarely overlap (they may: every step is
      // conditional).
      timeout: Duration.seconds(55),
    });
    props.metering.bindForReconciling(reconciler.function);
    const schedule = new Rule(this, 'ReconcileSchedule', {
      description:
        'Runs the reservation reconciler every minute (worst-case hold: see docs/decisions.md)',
      schedule: Schedule.rate(Duration.minutes(1)),
      // No retries: a failed run leaves its records in place, and the next minute's run takes them
      // again.
      targets: [new LambdaTarget(reconciler.function, { retryAttempts: 0 })],
    });
    Validations.of(schedule).acknowledge({
      id: 'Serverless::Serverless-EventBusDLQ',
      reason:
        'A schedule event carries nothing to keep: a missed invocation is made up by the next minute, which ' +
        'sweeps everything overdue.',
    });
    Validations.of(reconciler.function).acknowledge({
      id: 'Serverless::Serverless-LambdaDLQ',
      reason:
        'Invoked every minute by a schedule with nothing in its event: a failed run leaves the overdue ' +
        'reservations in the table, the next run takes them again, and the Errors alarm tells the operator.',
    });
    return reconciler;
  }

  /** The operator notifications topic, encrypted, that this account's alarms and EventBridge may publish to. */
  private notificationsTopic(envName: string, removalPolicy: RemovalPolicy): Topic {
    const topicKey = new Key(this, 'NotificationsKey', {
      description: 'Tierline operator notifications',
      enableKeyRotation: true,
      removalPolicy,
    });
    const notifications = new Topic(this, 'Notifications', {
      topicName: notificationsTopicName(envName),
      displayName: `Tierline ${envName} operator notifications`,
      masterKey: topicKey,
      enforceSSL: true,
    });
    // A topic policy replaces SNS's default one, which lets the account's own resources publish;
    // CDK writes one (enforceSSL, the EventBridge target), so CloudWatch's alarm actions need a
    // statement of their own, or every alarm fails with "Resource: arn:aws:cloudwatch:...:alarm:...
    // is not authorized to perform: SNS:Publish" (AWS Knowledge Center, "Why didn't I receive an
    // SNS notification for my CloudWatch alarm trigger?"). Limited to this account's alarms in this
    // region.
    const stack = Stack.of(this);
    notifications.addToResourcePolicy(
      new PolicyStatement({
        sid: 'AllowAlarmsOfThisAccount',
        actions: ['sns:Publish'],
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        resources: [notifications.topicArn],
        conditions: {
          ArnLike: {
            'aws:SourceArn': stack.formatArn({
              service: 'cloudwatch',
              resource: 'alarm',
              resourceName: '*',
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
          StringEquals: { 'aws:SourceAccount': stack.account },
        },
      }),
    );
    // CloudWatch alarms and EventBridge publish to the encrypted topic through its key.
    for (const service of ['cloudwatch.amazonaws.com', 'events.amazonaws.com']) {
      topicKey.addToResourcePolicy(
        new PolicyStatement({
          actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          principals: [new ServicePrincipal(service)],
          resources: ['*'],
        }),
      );
    }
    return notifications;
  }

  /** Lets `fn` publish Tierline events (spend alerts) on the account's default event bus. */
  public grantPublishEvents(fn: LambdaFunction): void {
    fn.addEnvironment(EVENT_SOURCE_ENV, eventSource(this.envName));
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: ['events:PutEvents'],
        resources: [
          Stack.of(this).formatArn({
            service: 'events',
            resource: 'event-bus',
            resourceName: 'default',
          }),
        ],
      }),
    );
  }
}
