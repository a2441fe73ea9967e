import { Duration } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';

export interface ModelAlarmsProps {
  readonly modelId: string;
  /** The inference component whose request metrics are watched (dimension `InferenceComponentName`). */
  readonly componentName: string;
  /**
   * p90 model latency above which the latency alarm fires. A whole non-streamed completion counts,
   * so this is generous; lower it for models that only stream.
   * @default Duration.seconds(60)
   */
  readonly latencyThreshold?: Duration;
  /**
   * Errors in one 5-minute period at which an error alarm fires.
   * @default 5
   */
  readonly errorThreshold?: number;
}

/**
 * Health alarms of one model's inference component; the inference stack gives every alarm its
 * action (the operator notifications topic). Missing data (no traffic, or zero copies) is not a
 * breach.
 */
export class ModelAlarms extends Construct {
  /** p90 `ModelLatency` over the threshold for 15 minutes. */
  public readonly latencyAlarm: Alarm;
  /** `Invocation5XXErrors`: SageMaker answered 5xx (container crashed, timed out, or returned 5xx). */
  public readonly serverErrorsAlarm: Alarm;
  /** `InvocationModelErrors`: the container answered something other than 2xx, or no valid HTTP response. */
  public readonly modelErrorsAlarm: Alarm;

  constructor(scope: Construct, id: string, props: ModelAlarmsProps) {
    super(scope, id);
    const period = Duration.minutes(5);
    const metric = (metricName: string, statistic: string) =>
      new Metric({
        namespace: 'AWS/SageMaker',
        metricName,
        dimensionsMap: { InferenceComponentName: props.componentName },
        statistic,
        period,
      });
    const latency = props.latencyThreshold ?? Duration.seconds(60);
    const errors = props.errorThreshold ?? 5;

    this.latencyAlarm = new Alarm(this, 'Latency', {
      alarmDescription: `${props.modelId}: p90 model latency above ${latency.toSeconds()} s for 15 minutes.`,
      metric: metric('ModelLatency', 'p90'),
      threshold: latency.toMilliseconds() * 1000, // ModelLatency is in microseconds
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.serverErrorsAlarm = new Alarm(this, 'ServerErrors', {
      alarmDescription: `${props.modelId}: ${errors} or more 5xx answers in 5 minutes.`,
      metric: metric('Invocation5XXErrors', 'Sum'),
      threshold: errors,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.modelErrorsAlarm = new Alarm(this, 'ModelErrors', {
      alarmDescription: `${props.modelId}: ${errors} or more failed model invocations in 5 minutes.`,
      metric: metric('InvocationModelErrors', 'Sum'),
      threshold: errors,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
  }
}
