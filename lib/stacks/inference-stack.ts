import { Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import { Alarm, type CfnAlarm } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Topic } from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { type TierlineConfig, targetConcurrencyPerCopy } from '../config/schema';
import type { FineTuningStore } from '../constructs/fine-tuning/fine-tuning-store';
import { InferenceRole } from '../constructs/inference/inference-role';
import { acceptsVolumeKmsKey } from '../constructs/inference/instance-types';
import { ModelEndpoint } from '../constructs/inference/model-endpoint';
import { SpeechEndpoint } from '../constructs/inference/speech-endpoint';
import { notificationsTopicName } from '../constructs/metering/usage-metering';

export interface InferenceStackProps extends StackProps {
  readonly config: TierlineConfig;
  /** Where adapters live: the execution role reads them for the adapter inference components. */
  readonly fineTuning: FineTuningStore;
}

/**
 * The GPU inference: one SageMaker endpoint per model of the catalog. It holds no data, and nothing
 * imports from it (the API derives endpoint names from `sagemaker-names.ts`), so an operator can
 * `cdk destroy` it to stop GPU cost; the API then answers 503 until it is deployed again. It
 * imports one value, the fine-tuning key's ARN from the data stack, so its role can read adapters;
 * the data stack outlives it.
 */
export class InferenceStack extends Stack {
  public readonly role: InferenceRole;
  /** Only when some model runs on an instance type whose volumes can take a customer-managed key. */
  public readonly volumeKey?: Key;
  /** By model id. */
  public readonly models: Readonly<Record<string, ModelEndpoint>>;
  /** The speech-to-text models (Whisper), by model id. */
  public readonly speechModels: Readonly<Record<string, SpeechEndpoint>>;

  constructor(scope: Construct, id: string, props: InferenceStackProps) {
    super(scope, id, props);
    const { config } = props;
    const env = config.environment;

    this.role = new InferenceRole(this, 'ExecutionRole');
    const instanceTypes = [
      ...Object.values(config.models),
      ...Object.values(config.speechModels),
    ].map((m) => m.instanceType);
    if (instanceTypes.some(acceptsVolumeKmsKey)) {
      this.volumeKey = new Key(this, 'VolumeKey', {
        description: 'Tierline inference: ML storage volumes of the SageMaker endpoint instances',
        enableKeyRotation: true,
        // Volumes live and die with the endpoints: nothing encrypted under this key outlives the
        // stack.
        removalPolicy: RemovalPolicy.DESTROY,
        pendingWindow: Duration.days(7),
      });
      this.role.grantVolumeKey(this.volumeKey);
    }

    // Adapter components (uploads and fine-tunes) run on the base models that take adapters.
    if (Object.values(config.models).some((m) => m.architecture)) {
      this.role.grantAdapterRead(props.fineTuning.bucketName, props.fineTuning.encryptionKey);
    }

    this.models = Object.fromEntries(
      Object.entries(config.models).map(([modelId, model]) => [
        modelId,
        new ModelEndpoint(this, modelId, {
          environmentName: env.name,
          modelId,
          model,
          fineTuning: config.fineTuning,
          role: this.role,
          volumeKey: this.volumeKey,
          scaleToZero: env.inference.scaleToZero,
          targetConcurrentRequestsPerCopy: targetConcurrencyPerCopy(model, env),
        }),
      ]),
    );

    this.speechModels = Object.fromEntries(
      Object.entries(config.speechModels).map(([modelId, model]) => [
        modelId,
        new SpeechEndpoint(this, modelId, {
          environmentName: env.name,
          modelId,
          model,
          role: this.role,
          volumeKey: this.volumeKey,
          scaleToZero: env.inference.scaleToZero,
        }),
      ]),
    );

    // Every other alarm of this stack notifies the operators' topic of the Api stack, named by ARN:
    // no cross-stack reference, so this stack can still be destroyed on its own (CloudWatch alarm
    // actions may name any topic).
    const notifications = new SnsAction(
      Topic.fromTopicArn(
        this,
        'Notifications',
        this.formatArn({ service: 'sns', resource: notificationsTopicName(env.name) }),
      ),
    );
    // Alarms that already act (scale-from-zero triggers its scaling policy) are autoscaling's, not
    // the operators'.
    for (const alarm of this.node.findAll().filter((c): c is Alarm => c instanceof Alarm)) {
      const actions = this.resolve((alarm.node.defaultChild as CfnAlarm).alarmActions) as
        | unknown[]
        | undefined;
      if (!actions?.length) alarm.addAlarmAction(notifications);
    }
  }
}
