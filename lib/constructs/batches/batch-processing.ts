import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { Rule, RuleTargetInput, Schedule } from 'aws-cdk-lib/aws-events';
import { SqsQueue } from 'aws-cdk-lib/aws-events-targets';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { BATCH_QUEUE_ENV, type BatchMessage } from '../../../lambda/batches/batch-queue';
import type { TierlineConfig } from '../../config/schema';
import { TierlineFunction } from '../tierline-function';

export interface BatchProcessingProps {
  readonly config: TierlineConfig;
  /** Where the dead-letter alarm goes. */
  readonly notifications: ITopic;
  /**
   * Batch messages the worker runs at once (SQS event source maximum concurrency, at least 2). With
   * the worker's 4 lines at a time per message, batch load on the models is at most 4 x this many
   * requests.
   * @default 2
   */
  readonly maxConcurrency?: number;
}

/** How long one message may run: a chunk of 20 lines, 4 at a time, at up to a minute per completion. */
const WORKER_TIMEOUT = Duration.minutes(5);

/**
 * The batch worker: a queue of batch messages (validate a file, run a chunk of lines, write the
 * files), its dead-letter queue (alarmed), and the function that consumes it with partial batch
 * failures.
 */
export class BatchProcessing extends Construct {
  public readonly queue: Queue;
  public readonly deadLetters: Queue;
  public readonly worker: TierlineFunction;
  public readonly deadLetterAlarm: Alarm;
  /** Queues a `sweep` message that expires batches past their completion window (stuck or never run). */
  public readonly expirySweep: Rule;

  constructor(scope: Construct, id: string, props: BatchProcessingProps) {
    super(scope, id);
    const env = props.config.environment;
    this.deadLetters = new Queue(this, 'DeadLetters', {
      retentionPeriod: Duration.days(14), // SQS's maximum
      encryption: QueueEncryption.KMS_MANAGED,
      enforceSSL: true,
    });
    const reason =
      'This queue is itself the dead-letter queue of the batch queue; an alarm watches it, nothing consumes it.';
    Validations.of(this.deadLetters).acknowledge({ id: 'AwsSolutions::AwsSolutions-SQS3', reason });
    Validations.of(this.deadLetters).acknowledge({
      id: 'Serverless::Serverless-SQSRedrivePolicy',
      reason,
    });

    this.queue = new Queue(this, 'Queue', {
      encryption: QueueEncryption.KMS_MANAGED,
      enforceSSL: true,
      // AWS recommends at least six times the function timeout for a Lambda event source.
      visibilityTimeout: Duration.seconds(WORKER_TIMEOUT.toSeconds() * 6),
      retentionPeriod: Duration.days(14),
      // A message that fails 5 times (no capacity for half an hour and more) goes to the dead
      // letters.
      deadLetterQueue: { queue: this.deadLetters, maxReceiveCount: 5 },
    });

    this.worker = new TierlineFunction(this, 'Worker', {
      config: props.config,
      handlerFile: 'batch-worker.ts',
      description: 'Tierline: runs batch lines against the models, writes output and error files',
      logRetention: env.logRetentionDays,
      removalPolicy: env.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
      memorySize: 1024,
      timeout: WORKER_TIMEOUT,
    });
    Validations.of(this.worker.function).acknowledge({
      id: 'Serverless::Serverless-LambdaDLQ',
      reason:
        'Invoked by an SQS event source: failed messages go to the queue’s own dead-letter queue.',
    });
    this.worker.function.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: 1,
        reportBatchItemFailures: true,
        maxConcurrency: props.maxConcurrency ?? 2,
      }),
    );
    // Acknowledged at the function, the parent of its event source mapping (whose id CDK derives
    // from the queue).
    Validations.of(this.worker.function).acknowledge({
      id: 'Serverless::Serverless-LambdaEventSourceMappingDestination',
      reason:
        'SQS event source mappings take no on-failure destination: failed messages return to the queue and, ' +
        'after 5 receives, move to its dead-letter queue (redrive policy), which is alarmed.',
    });
    this.bindSender(this.worker.function);

    this.deadLetterAlarm = new Alarm(this, 'DeadLetterAlarm', {
      alarmDescription:
        'Batch messages failed 5 times and wait in the dead-letter queue (kept 14 days): their batches do not ' +
        'advance. Look at the worker logs, then move the messages back to the batch queue (SQS redrive).',
      metric: this.deadLetters.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(5),
      }),
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.deadLetterAlarm.addAlarmAction(new SnsAction(props.notifications));

    // Through the queue, not a direct invoke: the sweep runs under the worker's own concurrency and
    // retries. Every 15 minutes: a batch is marked expired at most that long after its window (24 h
    // or more) ends.
    const sweep: BatchMessage = { kind: 'sweep' };
    this.expirySweep = new Rule(this, 'ExpirySweep', {
      description: 'Tierline: expires batches whose completion window has ended',
      schedule: Schedule.rate(Duration.minutes(15)),
      // A sweep EventBridge cannot deliver lands with the batch dead letters, whose alarm says so;
      // the next one comes 15 minutes later anyway.
      targets: [
        new SqsQueue(this.queue, {
          message: RuleTargetInput.fromObject(sweep),
          deadLetterQueue: this.deadLetters,
          retryAttempts: 3,
        }),
      ],
    });
  }

  /** Lets `fn` queue batch work, and tells it the queue's URL. */
  public bindSender(fn: LambdaFunction): void {
    fn.addEnvironment(BATCH_QUEUE_ENV, this.queue.queueUrl);
    this.queue.grantSendMessages(fn);
  }
}
