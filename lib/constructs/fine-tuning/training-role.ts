import { ArnFormat, Fn, Stack } from 'aws-cdk-lib';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { Asset } from 'aws-cdk-lib/aws-s3-assets';
import { Construct } from 'constructs';
import { trainingJobPrefix } from '../../../lambda/fine-tuning/sagemaker-names';
import { ConfigError } from '../../config/load';
import { acknowledgeWildcards } from './nag-ids';

const ECR_IMAGE = /^(\d{12})\.dkr\.ecr\.([^./]+)\.amazonaws\.com(?:\.cn)?\/([^:@]+)[:@].+$/;

export interface TrainingRoleProps {
  readonly environmentName: string;
  /** The fine-tuning bucket's name. */
  readonly bucketName: string;
  /** Encrypts the bucket, the job's output and (where the instance type allows) its volume. */
  readonly key: IKey;
  /** The training image, `${AWS::Region}` allowed. */
  readonly image: string;
  /** The training code (the `code` channel). */
  readonly code: Asset;
  /** Base weights kept in S3 outside the fine-tuning bucket (models whose `weights` is an s3:// URI). */
  readonly externalWeights: { bucket: string; prefix: string }[];
}

/**
 * The execution role of the training jobs: it reads only the jobs' inputs (training files, base
 * weights, the code), writes only their outputs and checkpoints, pulls only the training image and
 * writes only training-job logs. The job runs network isolated, so this role is all it can reach.
 */
export class TrainingRole extends Construct {
  public readonly role: Role;

  constructor(scope: Construct, id: string, props: TrainingRoleProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('sagemaker.amazonaws.com'),
      description: 'Tierline: SageMaker execution role of the LoRA training jobs',
    });
    const objects = (bucket: string, prefix: string) =>
      stack.formatArn({
        service: 's3',
        region: '',
        account: '',
        resource: bucket,
        resourceName: prefix,
      });
    const bucketArn = stack.formatArn({
      service: 's3',
      region: '',
      account: '',
      resource: props.bucketName,
    });
    const reads = ['jobs/*/input/*', 'base-models/*', 'jobs/*/checkpoints/*'];
    this.role.addToPolicy(
      new PolicyStatement({
        actions: ['s3:GetObject'],
        resources: reads.map((p) => objects(props.bucketName, p)),
      }),
    );
    this.role.addToPolicy(
      new PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [bucketArn],
        conditions: { StringLike: { 's3:prefix': reads } },
      }),
    );
    this.role.addToPolicy(
      new PolicyStatement({
        actions: ['s3:PutObject', 's3:DeleteObject'],
        resources: ['jobs/*/output/*', 'jobs/*/checkpoints/*'].map((p) =>
          objects(props.bucketName, p),
        ),
      }),
    );
    for (const weights of props.externalWeights) {
      this.role.addToPolicy(
        new PolicyStatement({
          actions: ['s3:GetObject'],
          resources: [objects(weights.bucket, `${weights.prefix}*`)],
        }),
      );
      this.role.addToPolicy(
        new PolicyStatement({
          actions: ['s3:ListBucket'],
          resources: [
            stack.formatArn({ service: 's3', region: '', account: '', resource: weights.bucket }),
          ],
          conditions: { StringLike: { 's3:prefix': [`${weights.prefix}*`] } },
        }),
      );
    }
    // The one code object, not Asset.grantRead's GetObject*/List* on every asset of the bootstrap
    // bucket.
    const codeObject = objects(props.code.s3BucketName, props.code.s3ObjectKey);
    this.role.addToPolicy(
      new PolicyStatement({ actions: ['s3:GetObject'], resources: [codeObject] }),
    );
    // The `code` channel is an S3Prefix data source: SageMaker lists the objects under the prefix
    // (here the object's own key) before it copies them, so it needs s3:ListBucket as well as
    // s3:GetObject (SageMaker API reference, S3DataSource: "S3Prefix ... uses all objects that
    // match the specified key name prefix"; "How to use SageMaker AI execution roles",
    // CreateTrainingJob API: s3:ListBucket on every input bucket). Conditioned on that key, so the
    // role cannot list the rest of the bootstrap bucket.
    this.role.addToPolicy(
      new PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [
          stack.formatArn({
            service: 's3',
            region: '',
            account: '',
            resource: props.code.s3BucketName,
          }),
        ],
        conditions: { StringLike: { 's3:prefix': [props.code.s3ObjectKey] } },
      }),
    );
    this.allowKey(props.key.keyArn);
    this.allowImagePull(props.image);
    const logGroup = this.allowMetricsAndLogs(props.environmentName);
    acknowledgeWildcards(
      this.role,
      [...reads, 'jobs/*/output/*'].map((p) => objects(props.bucketName, p)),
      'Objects of the fine-tuning bucket per job (jobs/<job>/input, output, checkpoints) and base weights ' +
        '(base-models/<model>/): a training job reads only inputs and writes only outputs and checkpoints.',
    );
    acknowledgeWildcards(
      this.role,
      props.externalWeights.map((w) => objects(w.bucket, `${w.prefix}*`)),
      "A model's base weights, read by the job that fine-tunes it.",
    );
    acknowledgeWildcards(
      this.role,
      [`${logGroup}:*`, `${logGroup}:log-stream:${trainingJobPrefix(props.environmentName)}*`],
      "Training-job log streams of this environment's jobs (tierline-<env>-ft-*) in SageMaker's log group.",
    );
    acknowledgeWildcards(
      this.role,
      ['*'],
      'ecr:GetAuthorizationToken and cloudwatch:PutMetricData support no resource-level permissions; ' +
        'PutMetricData is limited to the /aws/sagemaker/* namespaces by condition.',
    );
  }

  /** Pulling the training image, which must be an ECR image (SageMaker pulls no other). */
  private allowImagePull(imageUri: string): void {
    const image = ECR_IMAGE.exec(imageUri);
    if (!image) {
      throw new ConfigError(
        `fineTuning.training.image "${imageUri}" is not an Amazon ECR image URI: use the Hugging Face PyTorch ` +
          'training image, 763104351884.dkr.ecr.${AWS::Region}.amazonaws.com/huggingface-pytorch-training:TAG.',
      );
    }
    const [, account, region, repository] = image;
    this.role.addToPolicy(
      new PolicyStatement({
        actions: [
          'ecr:BatchCheckLayerAvailability',
          'ecr:BatchGetImage',
          'ecr:GetDownloadUrlForLayer',
        ],
        resources: [
          Fn.sub(`arn:\${AWS::Partition}:ecr:${region}:${account}:repository/${repository}`),
        ],
      }),
    );
    this.role.addToPolicy(
      new PolicyStatement({ actions: ['ecr:GetAuthorizationToken'], resources: ['*'] }),
    );
  }

  /** SageMaker's training metrics and this environment's training-job logs; the log group's ARN. */
  private allowMetricsAndLogs(environmentName: string): string {
    const stack = Stack.of(this);
    this.role.addToPolicy(
      new PolicyStatement({
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringLike: { 'cloudwatch:namespace': '/aws/sagemaker/*' } },
      }),
    );
    const logGroup = stack.formatArn({
      service: 'logs',
      resource: 'log-group',
      resourceName: '/aws/sagemaker/TrainingJobs',
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    this.role.addToPolicy(
      new PolicyStatement({
        actions: ['logs:CreateLogGroup', 'logs:DescribeLogStreams'],
        resources: [logGroup, `${logGroup}:*`],
      }),
    );
    this.role.addToPolicy(
      new PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [`${logGroup}:log-stream:${trainingJobPrefix(environmentName)}*`],
      }),
    );
    return logGroup;
  }

  /** The fine-tuning key, and grants on it for the training volume. */
  private allowKey(keyArn: string): void {
    this.role.addToPolicy(
      new PolicyStatement({
        actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'],
        resources: [keyArn],
      }),
    );
    this.role.addToPolicy(
      new PolicyStatement({
        // SageMaker creates grants on the key for the training volume; only for AWS resources.
        actions: ['kms:CreateGrant'],
        resources: [keyArn],
        conditions: { Bool: { 'kms:GrantIsForAWSResource': 'true' } },
      }),
    );
  }
}
