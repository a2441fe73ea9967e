import { ArnFormat, Fn, Stack, Token, Validations } from 'aws-cdk-lib';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { ConfigError } from '../../config/load';
import { acknowledgeWildcards } from '../fine-tuning/nag-ids';
import type { S3Weights } from './lmi-container';

/**
 * An ECR image URI, split into what an IAM statement needs. `${AWS::Region}` may stand for the
 * region, and `${AWS::AccountId}` for the account (an image copied into the deployment's own ECR).
 */
const ECR_IMAGE =
  /^(\d{12}|\$\{AWS::AccountId\})\.dkr\.ecr\.([^./]+)\.amazonaws\.com(?:\.cn)?\/([^:@]+)[:@].+$/;

/** A stack value as cdk-nag prints it in a finding id: the literal when known, else `<AWS::Name>`. */
function nagValue(value: string, pseudo: string): string {
  return Token.isUnresolved(value) ? `<AWS::${pseudo}>` : value;
}

/** What one model served from this role needs. */
export interface ModelServingGrant {
  readonly modelId: string;
  /** Container image URI, `${AWS::Region}` allowed. */
  readonly image: string;
  /** The weights when they are in S3. */
  readonly weights?: S3Weights;
  /** Endpoint and inference component names: SageMaker writes their logs to log groups named after them. */
  readonly endpointName: string;
  readonly inferenceComponentName: string;
}

/**
 * The execution role SageMaker assumes for the stack's models, endpoints and inference components:
 * pull the model's image, write its logs and metrics, read its weights from S3, use the volume key.
 * Nothing else.
 */
export class InferenceRole extends Construct {
  public readonly role: Role;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('sagemaker.amazonaws.com'),
      description: 'Tierline: SageMaker execution role of the GPU inference endpoints',
    });
    this.role.addToPolicy(
      new PolicyStatement({
        // GetAuthorizationToken is account-wide: ECR supports no resource for it.
        actions: ['ecr:GetAuthorizationToken'],
        resources: ['*'],
      }),
    );
    this.role.addToPolicy(
      new PolicyStatement({
        // Instance and component metrics (CPU, GPU, memory, disk) go to the /aws/sagemaker/*
        // namespaces.
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringLike: { 'cloudwatch:namespace': '/aws/sagemaker/*' } },
      }),
    );
    Validations.of(this.role).acknowledge({
      id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
      reason:
        'ecr:GetAuthorizationToken and cloudwatch:PutMetricData support no resource-level permissions; ' +
        'PutMetricData is limited to the /aws/sagemaker/* namespaces by condition.',
    });
  }

  /** Lets SageMaker pull the model's image, write its endpoint and component logs, and read its S3 weights. */
  public grantServing(grant: ModelServingGrant): void {
    const stack = Stack.of(this);
    const image = ECR_IMAGE.exec(grant.image);
    if (!image) {
      throw new ConfigError(
        `Model "${grant.modelId}": containerImage "${grant.image}" is not an Amazon ECR image URI. SageMaker ` +
          'pulls from ECR: use ACCOUNT.dkr.ecr.${AWS::Region}.amazonaws.com/REPOSITORY:TAG.',
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

    const logGroups = [
      `/aws/sagemaker/Endpoints/${grant.endpointName}`,
      `/aws/sagemaker/InferenceComponents/${grant.inferenceComponentName}`,
    ];
    const logGroupArn = (name: string, stream: boolean) =>
      stack.formatArn({
        service: 'logs',
        resource: 'log-group',
        resourceName: stream ? `${name}:log-stream:*` : name,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      });
    this.role.addToPolicy(
      new PolicyStatement({
        actions: [
          'logs:CreateLogGroup',
          'logs:CreateLogStream',
          'logs:DescribeLogStreams',
          'logs:PutLogEvents',
        ],
        resources: logGroups.flatMap((name) => [logGroupArn(name, false), logGroupArn(name, true)]),
      }),
    );
    const partition = nagValue(stack.partition, 'Partition');
    const logsPrefix = `arn:${partition}:logs:${nagValue(stack.region, 'Region')}:${nagValue(stack.account, 'AccountId')}`;
    for (const name of logGroups) {
      Validations.of(this.role).acknowledge({
        id: `AwsSolutions::AwsSolutions-IAM5[Resource::${logsPrefix}:log-group:${name}:log-stream:*]`,
        reason: `Log stream names are chosen by SageMaker at run time; the grant is limited to the ${name} log group.`,
      });
    }

    if (grant.weights) this.grantWeightsRead(grant.modelId, grant.weights);
  }

  /** Lets SageMaker create grants for, and use, the key that encrypts the instances' ML storage volumes. */
  public grantVolumeKey(key: IKey): void {
    this.role.addToPolicy(
      new PolicyStatement({
        actions: [
          'kms:Decrypt',
          'kms:DescribeKey',
          'kms:GenerateDataKeyWithoutPlaintext',
          'kms:ReEncryptFrom',
          'kms:ReEncryptTo',
        ],
        resources: [key.keyArn],
      }),
    );
    this.role.addToPolicy(
      new PolicyStatement({
        // EBS attaches an encrypted volume through a grant; only AWS services may use the grants
        // created.
        actions: ['kms:CreateGrant'],
        resources: [key.keyArn],
        conditions: { Bool: { 'kms:GrantIsForAWSResource': 'true' } },
      }),
    );
  }

  /**
   * Lets SageMaker download LoRA adapters for adapter inference components: an adapter component
   * has no model and no role of its own, so SageMaker reads its `Container.ArtifactUrl` with the
   * execution role of the endpoint it runs on (CreateEndpointConfig, `ExecutionRoleArn`: the role
   * SageMaker assumes for an endpoint's inference components). Adapters are uploaded under
   * `adapters/` and trained ones are written by training jobs under `jobs/<job>/output/` of the
   * fine-tuning bucket, whose objects are encrypted with the fine-tuning key (SSE-KMS: reading an
   * object needs kms:Decrypt on its key). Read only, those two prefixes only.
   */
  public grantAdapterRead(bucketName: string, key: IKey): void {
    const stack = Stack.of(this);
    const prefixes = ['adapters/*', 'jobs/*/output/*'];
    const objects = prefixes.map((prefix) =>
      stack.formatArn({
        service: 's3',
        region: '',
        account: '',
        resource: bucketName,
        resourceName: prefix,
      }),
    );
    // Named statements: CDK would otherwise merge them with the weights' reads into one
    // hard-to-review list.
    this.role.addToPolicy(
      new PolicyStatement({ sid: 'ReadAdapters', actions: ['s3:GetObject'], resources: objects }),
    );
    this.role.addToPolicy(
      new PolicyStatement({
        sid: 'DecryptAdapters',
        actions: ['kms:Decrypt'],
        resources: [key.keyArn],
      }),
    );
    acknowledgeWildcards(
      this.role,
      objects,
      'Adapter archives are per customer and per job (adapters/<owner>/..., jobs/<job>/output/...): SageMaker ' +
        'reads the one an adapter inference component names; read only, those prefixes of the fine-tuning bucket only.',
    );
  }

  private grantWeightsRead(modelId: string, weights: S3Weights): void {
    const partition = Stack.of(this).partition;
    const bucketArn = `arn:${partition}:s3:::${weights.bucket}`;
    this.role.addToPolicy(
      new PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [`${bucketArn}/${weights.prefix}*`],
      }),
    );
    this.role.addToPolicy(
      new PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${weights.prefix}*`] } },
      }),
    );
    Validations.of(this.role).acknowledge({
      id: `AwsSolutions::AwsSolutions-IAM5[Resource::arn:${nagValue(partition, 'Partition')}:s3:::${weights.bucket}/${weights.prefix}*]`,
      reason: `SageMaker downloads every file under the weights prefix of model "${modelId}"; read only, that prefix only.`,
    });
  }
}
