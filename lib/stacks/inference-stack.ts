import { Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';
import { type TierlineConfig, targetConcurrencyPerCopy } from '../config/schema';
import { InferenceRole } from '../constructs/inference/inference-role';
import { acceptsVolumeKmsKey } from '../constructs/inference/instance-types';
import { ModelEndpoint } from '../constructs/inference/model-endpoint';

export interface InferenceStackProps extends StackProps {
  readonly config: TierlineConfig;
}

/**
 * The GPU inference: one SageMaker endpoint per model of the catalog. It holds no data, and nothing imports
 * from it (the API derives endpoint names from `sagemaker-names.ts`), so an operator can `cdk destroy` it to
 * stop GPU cost; the API then answers 503 until it is deployed again.
 */
export class InferenceStack extends Stack {
  public readonly role: InferenceRole;
  /** Only when some model runs on an instance type whose volumes can take a customer-managed key. */
  public readonly volumeKey?: Key;
  /** By model id. */
  public readonly models: Readonly<Record<string, ModelEndpoint>>;

  constructor(scope: Construct, id: string, props: InferenceStackProps) {
    super(scope, id, props);
    const { config } = props;
    const env = config.environment;

    this.role = new InferenceRole(this, 'ExecutionRole');
    if (Object.values(config.models).some((m) => acceptsVolumeKmsKey(m.instanceType))) {
      this.volumeKey = new Key(this, 'VolumeKey', {
        description: 'Tierline inference: ML storage volumes of the SageMaker endpoint instances',
        enableKeyRotation: true,
        // Volumes live and die with the endpoints: nothing encrypted under this key outlives the stack.
        removalPolicy: RemovalPolicy.DESTROY,
        pendingWindow: Duration.days(7),
      });
      this.role.grantVolumeKey(this.volumeKey);
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
  }
}
