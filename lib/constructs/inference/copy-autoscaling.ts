import { Duration } from 'aws-cdk-lib';
import { CfnScalableTarget, CfnScalingPolicy } from 'aws-cdk-lib/aws-applicationautoscaling';
import { Alarm, ComparisonOperator, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import type { CfnInferenceComponent } from 'aws-cdk-lib/aws-sagemaker';
import { Construct } from 'constructs';

export interface CopyAutoscalingProps {
  /** The inference component whose copies are scaled (its name is set explicitly, see `componentName`). */
  readonly component: CfnInferenceComponent;
  readonly componentName: string;
  /** Most copies autoscaling may run. */
  readonly maxCopies: number;
  /** Scale to zero copies when idle, and back to one on the first request that finds none. */
  readonly scaleToZero: boolean;
  /** Concurrent requests per copy that target tracking aims for. */
  readonly targetConcurrentRequestsPerCopy: number;
  /** @default Duration.minutes(5) */
  readonly scaleInCooldown?: Duration;
  /** @default Duration.minutes(1) */
  readonly scaleOutCooldown?: Duration;
}

/**
 * Scales the copies of one inference component on concurrent requests per copy. Managed instance
 * scaling of the endpoint adds and removes the instances the copies need. With scale to zero,
 * target tracking takes the component down to zero copies when idle, and AWS's documented
 * scale-from-zero pattern brings it back: a request that finds no copy fails with
 * `NoCapacityInvocationFailures`, whose alarm runs a step policy that adds one copy.
 */
export class CopyAutoscaling extends Construct {
  public readonly scalableTarget: CfnScalableTarget;
  public readonly targetTracking: CfnScalingPolicy;
  /** Only with scale to zero. */
  public readonly scaleFromZero?: CfnScalingPolicy;
  /** Only with scale to zero. */
  public readonly noCapacityAlarm?: Alarm;

  constructor(scope: Construct, id: string, props: CopyAutoscalingProps) {
    super(scope, id);
    // L1, not the L2 ScalableTarget: the L2 always creates an IAM role, while SageMaker scaling
    // uses the Application Auto Scaling service-linked role when no RoleARN is given.
    this.scalableTarget = new CfnScalableTarget(this, 'Target', {
      serviceNamespace: 'sagemaker',
      resourceId: `inference-component/${props.componentName}`,
      scalableDimension: 'sagemaker:inference-component:DesiredCopyCount',
      minCapacity: props.scaleToZero ? 0 : 1,
      maxCapacity: props.maxCopies,
    });
    // The resource id is a plain name: register only once the component exists.
    this.scalableTarget.addResourceDependency(props.component);

    this.targetTracking = new CfnScalingPolicy(this, 'ConcurrentRequests', {
      policyName: `${props.componentName}-concurrent-requests`,
      policyType: 'TargetTrackingScaling',
      scalingTargetId: this.scalableTarget.ref,
      targetTrackingScalingPolicyConfiguration: {
        targetValue: props.targetConcurrentRequestsPerCopy,
        predefinedMetricSpecification: {
          // High resolution (10 s) lets scale-out react within a minute instead of several.
          predefinedMetricType:
            'SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution',
        },
        scaleInCooldown: (props.scaleInCooldown ?? Duration.minutes(5)).toSeconds(),
        scaleOutCooldown: (props.scaleOutCooldown ?? Duration.minutes(1)).toSeconds(),
      },
    });

    if (props.scaleToZero) {
      this.scaleFromZero = new CfnScalingPolicy(this, 'ScaleFromZero', {
        policyName: `${props.componentName}-scale-from-zero`,
        policyType: 'StepScaling',
        scalingTargetId: this.scalableTarget.ref,
        stepScalingPolicyConfiguration: {
          adjustmentType: 'ChangeInCapacity',
          metricAggregationType: 'Maximum',
          cooldown: 60,
          stepAdjustments: [{ metricIntervalLowerBound: 0, scalingAdjustment: 1 }],
        },
      });
      // Target tracking cannot scale out from zero: with no copy there is no per-copy metric to
      // track.
      this.noCapacityAlarm = new Alarm(this, 'NoCapacity', {
        alarmDescription: `${props.componentName} has no copy and a request came in: add one (scale from zero).`,
        metric: new Metric({
          namespace: 'AWS/SageMaker',
          metricName: 'NoCapacityInvocationFailures',
          dimensionsMap: { InferenceComponentName: props.componentName },
          statistic: 'Maximum',
          period: Duration.seconds(30),
        }),
        threshold: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        datapointsToAlarm: 1,
        // As in AWS's pattern: the metric exists only while requests fail, so missing data changes
        // nothing.
        treatMissingData: TreatMissingData.MISSING,
      });
      const policy = this.scaleFromZero;
      this.noCapacityAlarm.addAlarmAction({ bind: () => ({ alarmActionArn: policy.ref }) });
    }
  }
}
