import { Duration } from 'aws-cdk-lib';
import type { Stage } from 'aws-cdk-lib/aws-apigateway';
import {
  Alarm,
  ComparisonOperator,
  type IMetric,
  MathExpression,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';

/** A function to watch. */
export interface WatchedFunction {
  /** Construct id of its alarms, e.g. `Chat`. */
  readonly id: string;
  readonly function: IFunction;
  /**
   * Alarm on its `Errors`. False for the authorizer: it answers every unknown key by throwing
   * "Unauthorized" (API Gateway's protocol for a 401), so its errors count bad keys, not faults; a
   * real failure of it is a 500 that the API's 5xx alarm sees.
   * @default true
   */
  readonly alarmOnErrors?: boolean;
}

export interface ServiceAlarmsProps {
  /** Every alarm notifies this topic (the operator notifications). */
  readonly topic: ITopic;
  /** The API's stage: its share of 5xx answers. */
  readonly stage: Stage;
  readonly functions: readonly WatchedFunction[];
  /** Tables by construct id, e.g. `{ Customers: table }`. */
  readonly tables: Readonly<Record<string, ITable>>;
  /** The fine-tuning workflow: its failed executions. */
  readonly stateMachine: IStateMachine;
  /** Dead-letter queues by construct id: anything in one waits for an operator. */
  readonly deadLetterQueues: Readonly<Record<string, IQueue>>;
}

const PERIOD = Duration.minutes(5);

/**
 * The service's health alarms, each with an action (the notifications topic): the API's 5xx share,
 * each function's errors and throttles, DynamoDB throttles per table, failed fine-tuning executions
 * and dead letters. Missing data (no traffic) is never a breach.
 */
export class ServiceAlarms extends Construct {
  public readonly alarms: Alarm[] = [];
  private readonly action: SnsAction;

  constructor(scope: Construct, id: string, props: ServiceAlarmsProps) {
    super(scope, id);
    this.action = new SnsAction(props.topic);

    // `5XXError` is 1 or 0 per request: its average is the share of 5xx answers. A share, not a
    // count, so a busy hour is not an outage; 15 minutes, so a model scaling from zero (503 +
    // retry-after by design) is not one.
    this.add('Api5xx', {
      description:
        'More than 5% of API requests answered 5xx for 15 minutes: see the access logs (status, error) and the ' +
        "functions' logs.",
      metric: props.stage.metricServerError({ period: PERIOD, statistic: 'Average' }),
      threshold: 0.05,
      evaluationPeriods: 3,
    });

    for (const watched of props.functions) {
      const fn = watched.function;
      if (watched.alarmOnErrors ?? true) {
        this.add(`${watched.id}Errors`, {
          description: `The ${watched.id} function failed (an unhandled error, a timeout or out of memory): see its log group.`,
          metric: fn.metricErrors({ period: PERIOD, statistic: 'Sum' }),
          threshold: 1,
          evaluationPeriods: 1,
        });
      }
      this.add(`${watched.id}Throttles`, {
        description:
          `Lambda throttled the ${watched.id} function: its reserved concurrency (or the account's unreserved ` +
          'concurrency) is used up. Raise environment.reservedConcurrency or the account quota.',
        metric: fn.metricThrottles({ period: PERIOD, statistic: 'Sum' }),
        threshold: 1,
        evaluationPeriods: 1,
      });
    }

    for (const [name, table] of Object.entries(props.tables)) {
      // On-demand tables throttle too (past a partition's 3,000 reads or 1,000 writes a second, or
      // the table's on-demand maximum): a throttled write the SDK's retries did not absorb failed a
      // request.
      this.add(`${name}TableThrottles`, {
        description: `DynamoDB throttled reads or writes of the ${name} table: look for a hot key (see docs/decisions.md, hot customers).`,
        metric: new MathExpression({
          expression: 'reads + writes',
          label: `${name} throttle events`,
          period: PERIOD,
          usingMetrics: {
            reads: table.metric('ReadThrottleEvents', { period: PERIOD, statistic: 'Sum' }),
            writes: table.metric('WriteThrottleEvents', { period: PERIOD, statistic: 'Sum' }),
          },
        }),
        threshold: 1,
        evaluationPeriods: 1,
      });
    }

    this.add('FineTuningFailed', {
      description:
        "A fine-tuning execution failed or timed out: the job's error says why (a customer's bad data is one " +
        'reason; several in a row point at the workflow: see the state machine logs).',
      metric: new MathExpression({
        expression: 'failed + timedOut',
        label: 'failed or timed-out executions',
        period: PERIOD,
        usingMetrics: {
          failed: props.stateMachine.metricFailed({ period: PERIOD, statistic: 'Sum' }),
          timedOut: props.stateMachine.metricTimedOut({ period: PERIOD, statistic: 'Sum' }),
        },
      }),
      threshold: 1,
      evaluationPeriods: 1,
    });

    for (const [name, queue] of Object.entries(props.deadLetterQueues)) {
      this.add(`${name}Depth`, {
        description: `Messages wait in the ${name} dead-letter queue (kept 14 days): look at the failing function's log, then redrive them.`,
        metric: queue.metricApproximateNumberOfMessagesVisible({
          period: PERIOD,
          statistic: 'Maximum',
        }),
        threshold: 1,
        evaluationPeriods: 1,
      });
    }
  }

  private add(
    id: string,
    options: { description: string; metric: IMetric; threshold: number; evaluationPeriods: number },
  ): void {
    const alarm = new Alarm(this, id, {
      alarmDescription: options.description,
      metric: options.metric,
      threshold: options.threshold,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: options.evaluationPeriods,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(this.action);
    this.alarms.push(alarm);
  }
}
