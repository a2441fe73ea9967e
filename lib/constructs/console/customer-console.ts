import {
  Aws,
  DefaultStackSynthesizer,
  DockerImage,
  Duration,
  RemovalPolicy,
  Stack,
  Token,
  Validations,
} from 'aws-cdk-lib';
import type { RestApi } from 'aws-cdk-lib/aws-apigateway';
import {
  AllowedMethods,
  CachePolicy,
  Distribution,
  HeadersFrameOption,
  HeadersReferrerPolicy,
  HttpVersion,
  OriginRequestPolicy,
  PriceClass,
  ResponseHeadersPolicy,
  ViewerProtocolPolicy,
} from 'aws-cdk-lib/aws-cloudfront';
import { RestApiOrigin, S3BucketOrigin } from 'aws-cdk-lib/aws-cloudfront-origins';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  type CfnBucket,
  ObjectOwnership,
} from 'aws-cdk-lib/aws-s3';
import { BucketDeployment, CacheControl, Source } from 'aws-cdk-lib/aws-s3-deployment';
import { Construct } from 'constructs';
import { buildConsole, CONSOLE_DIR } from '../../../console/build';
import {
  CONSOLE_SECURITY_HEADERS,
  contentSecurityPolicy,
  HSTS_MAX_AGE_SECONDS,
} from '../../../console/security-headers';
import type { TierlineConfig } from '../../config/schema';

export interface CustomerConsoleProps {
  readonly config: TierlineConfig;
  /** The API, served by the same distribution under `/v1/*` and `/openai/v1/*`. */
  readonly api: RestApi;
  /**
   * The console's app client of the user pool (in this region): written to `/console-config.json`,
   * which the console reads at start for its sign-up and sign-in pages.
   * @default none: the console signs in with API keys only
   */
  readonly signInClientId?: string;
}

/** How cdk-nag writes a value in a finding id: a pseudo parameter when the stack is environment-agnostic. */
/** Cognito's user-pool API in the stack's region (the console's sign-in calls it from the browser). */
const COGNITO_ENDPOINT = `https://cognito-idp.${Aws.REGION}.amazonaws.com`;

const nag = (value: string, pseudo: string) =>
  Token.isUnresolved(value) ? `<AWS::${pseudo}>` : value;

/** The API paths the distribution sends to API Gateway (openai's `/v1`, groq-sdk's `/openai/v1`). */
export const API_PATH_PATTERNS = ['/v1/*', '/openai/v1/*'] as const;

/**
 * The customer console in AWS: its static files in a private S3 bucket, served by CloudFront
 * through origin access control, with the security headers of local mode; the API behind the same
 * distribution, so the console calls it same-origin (no CORS, and the key never goes to another
 * origin). Chat streams pass through (CloudFront forwards chunked responses); the API paths are
 * never cached and get every viewer header, Authorization included (allowed when caching is
 * disabled).
 */
export class CustomerConsole extends Construct {
  public readonly bucket: Bucket;
  public readonly logs: Bucket;
  public readonly distribution: Distribution;
  /** `https://<id>.cloudfront.net/`: the console, and `${url}v1` the same-origin API. */
  public readonly url: string;
  private readonly signInClientId?: string;

  constructor(scope: Construct, id: string, props: CustomerConsoleProps) {
    super(scope, id);
    this.signInClientId = props.signInClientId;
    const env = props.config.environment;
    const removalPolicy = env.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    this.logs = new Bucket(this, 'AccessLogs', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      // CloudFront standard logs are written with an ACL: the bucket must accept ACLs from the log
      // writer.
      objectOwnership: ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [{ expiration: Duration.days(env.logRetentionDays) }],
      removalPolicy,
      // CloudFormation deletes only an empty bucket: emptied first when it goes with the stack.
      autoDeleteObjects: !env.retainData,
    });
    Validations.of(this.logs).acknowledge({
      id: 'AwsSolutions::AwsSolutions-S1',
      reason:
        'This is the access-log bucket of the console bucket and the distribution: logging it would loop.',
    });

    this.bucket = new Bucket(this, 'Files', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.logs,
      serverAccessLogsPrefix: 's3/',
      // The build output only: redeploying recreates it. Emptied first, or the delete fails
      // (BucketNotEmpty).
      removalPolicy: RemovalPolicy.DESTROY,
      autoDeleteObjects: true,
    });

    const securityHeaders = this.securityHeadersPolicy();

    const apiOrigin = new RestApiOrigin(props.api, {
      // CloudFront waits this long for the first byte and between bytes of a stream (60 s without a
      // quota raise).
      readTimeout: Duration.seconds(60),
    });
    const apiBehavior = {
      origin: apiOrigin,
      viewerProtocolPolicy: ViewerProtocolPolicy.HTTPS_ONLY,
      allowedMethods: AllowedMethods.ALLOW_ALL,
      cachePolicy: CachePolicy.CACHING_DISABLED,
      // With caching disabled, this policy forwards Authorization too (API Gateway reads the key
      // from it).
      originRequestPolicy: OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
      compress: false,
    };

    this.distribution = new Distribution(this, 'Distribution', {
      comment: `Tierline ${env.name}: customer console and API`,
      defaultRootObject: 'index.html',
      httpVersion: HttpVersion.HTTP2_AND_3,
      priceClass: PriceClass.PRICE_CLASS_100,
      enableLogging: true,
      logBucket: this.logs,
      logFilePrefix: 'cloudfront/',
      defaultBehavior: {
        origin: S3BucketOrigin.withOriginAccessControl(this.bucket),
        viewerProtocolPolicy: ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        cachePolicy: CachePolicy.CACHING_OPTIMIZED,
        responseHeadersPolicy: securityHeaders,
        compress: true,
      },
      additionalBehaviors: Object.fromEntries(
        API_PATH_PATTERNS.map((pattern) => [pattern, apiBehavior]),
      ),
    });
    const edgeReason =
      'Same edge protection as the API stage: no WAF by default (it costs per request); per-key usage plans and ' +
      'per-customer limits in DynamoDB stand behind every API path. Associate a WebACL if needed.';
    Validations.of(this.distribution).acknowledge({
      id: 'AwsSolutions::AwsSolutions-CFR2',
      reason: edgeReason,
    });
    Validations.of(this.distribution).acknowledge({
      id: 'AwsSolutions::AwsSolutions-CFR1',
      reason:
        'An API business sells worldwide: no geo restriction. Add one in the distribution if your terms need it.',
    });
    Validations.of(this.distribution).acknowledge({
      id: 'AwsSolutions::AwsSolutions-CFR4',
      reason:
        'No custom domain by default: the *.cloudfront.net certificate cannot set a minimum TLS version. With a ' +
        'domain, give the distribution its certificate and SecurityPolicyProtocol.TLS_V1_2_2021.',
    });

    this.deployBuild(env, removalPolicy);

    this.url = `https://${this.distribution.distributionDomainName}/`;
  }

  /** The console's build, deployed to the bucket in the order that never serves a missing asset. */
  private deployBuild(
    env: CustomerConsoleProps['config']['environment'],
    removalPolicy: RemovalPolicy,
  ): void {
    // Hashed assets first (cached for a year), then index.html (never cached), which names them: a
    // visitor never gets an index.html whose assets are not there yet.
    const files = Source.asset(CONSOLE_DIR, {
      exclude: ['dist'],
      bundling: {
        // Never pulled: the console builds locally with esbuild (tryBundle), as the functions do.
        image: DockerImage.fromRegistry('public.ecr.aws/docker/library/node:20-slim'),
        local: {
          tryBundle: (outputDir) => {
            buildConsole(outputDir);
            return true;
          },
        },
      },
    });
    // The deployment function's log group, with the environment's retention like every other log
    // group.
    const deployLogs = new LogGroup(this, 'DeployLogs', {
      retention: env.logRetentionDays,
      removalPolicy,
    });
    const assets = new BucketDeployment(this, 'DeployAssets', {
      logGroup: deployLogs,
      destinationBucket: this.bucket,
      sources: [files],
      include: ['assets/*'],
      exclude: ['*'],
      prune: false,
      cacheControl: [CacheControl.fromString('public, max-age=31536000, immutable')],
      memoryLimit: 512,
    });
    const index = new BucketDeployment(this, 'DeployIndex', {
      logGroup: deployLogs,
      destinationBucket: this.bucket,
      sources: [files],
      include: ['index.html'],
      exclude: ['*'],
      prune: false,
      cacheControl: [CacheControl.noCache()],
      distribution: this.distribution,
      distributionPaths: ['/', '/index.html'],
      memoryLimit: 512,
    });
    index.node.addDependency(assets);
    if (this.signInClientId) {
      const config = new BucketDeployment(this, 'DeployConfig', {
        logGroup: deployLogs,
        destinationBucket: this.bucket,
        sources: [
          Source.jsonData('console-config.json', {
            cognito: { endpoint: `${COGNITO_ENDPOINT}/`, clientId: this.signInClientId },
          }),
        ],
        prune: false,
        cacheControl: [CacheControl.noCache()],
        distribution: this.distribution,
        distributionPaths: ['/console-config.json'],
        memoryLimit: 512,
      });
      config.node.addDependency(index);
    }
    this.acknowledgeDeploymentFunction();
  }

  /** The headers every console page is served with (the same as local mode's). */
  private securityHeadersPolicy(): ResponseHeadersPolicy {
    return new ResponseHeadersPolicy(this, 'SecurityHeaders', {
      comment: 'Tierline console: CSP without inline scripts, HSTS, no framing',
      securityHeadersBehavior: {
        contentSecurityPolicy: {
          // The pool's JSON API, called from the browser for sign-up and sign-in.
          contentSecurityPolicy: contentSecurityPolicy([COGNITO_ENDPOINT]),
          override: true,
        },
        strictTransportSecurity: {
          accessControlMaxAge: Duration.seconds(HSTS_MAX_AGE_SECONDS),
          includeSubdomains: true,
          override: true,
        },
        frameOptions: { frameOption: HeadersFrameOption.DENY, override: true },
        contentTypeOptions: { override: true },
        referrerPolicy: { referrerPolicy: HeadersReferrerPolicy.NO_REFERRER, override: true },
      },
      customHeadersBehavior: {
        customHeaders: ['cross-origin-opener-policy', 'permissions-policy'].map((header) => ({
          header,
          value: CONSOLE_SECURITY_HEADERS[header] as string,
          override: true,
        })),
      },
    });
  }

  /**
   * The BucketDeployment custom resource's function is CDK's own (one per stack, runs only on
   * deploy): its findings, acknowledged at its role and its function resource.
   */
  private acknowledgeDeploymentFunction(): void {
    const stack = Stack.of(this);
    const handler = stack.node.children.find((child) =>
      child.node.id.startsWith('Custom::CDKBucketDeployment'),
    );
    if (!handler)
      throw new Error('BucketDeployment created no function: aws-cdk-lib changed how it names it');
    const role = handler.node.findChild('ServiceRole');
    const fn = handler.node.findChild('Resource');
    const why =
      "CDK's BucketDeployment function (runs on deploy only, copies the console files into its bucket): ";
    Validations.of(role).acknowledge({
      id: 'AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      reason: `${why}its role uses the basic execution policy, as CDK creates it.`,
    });
    // Exactly the wildcards CDK grants it: S3 action families, the asset bucket's objects, the
    // console bucket's.
    const consoleBucket = stack.getLogicalId(this.bucket.node.defaultChild as CfnBucket);
    const qualifier =
      stack.synthesizer.bootstrapQualifier ?? DefaultStackSynthesizer.DEFAULT_QUALIFIER;
    for (const finding of [
      'Action::s3:GetBucket*',
      'Action::s3:GetObject*',
      'Action::s3:List*',
      'Action::s3:Abort*',
      'Action::s3:DeleteObject*',
      'Resource::*',
      `Resource::arn:${nag(stack.partition, 'Partition')}:s3:::cdk-${qualifier}-assets-${nag(stack.account, 'AccountId')}-${nag(stack.region, 'Region')}/*`,
      `Resource::<${consoleBucket}.Arn>/*`,
    ]) {
      Validations.of(role).acknowledge({
        id: `AwsSolutions::AwsSolutions-IAM5[${finding}]`,
        reason: `${why}it reads the CDK asset bucket and writes, lists and deletes the console bucket's objects.`,
      });
    }
    for (const [id, reason] of [
      ['AwsSolutions::AwsSolutions-L1', 'CDK pins its runtime; it moves with aws-cdk-lib.'],
      ['Serverless::Serverless-LambdaTracing', 'a deploy-time copy needs no tracing.'],
      [
        'Serverless::Serverless-LambdaDLQ',
        'CloudFormation invokes it synchronously and reports failures itself.',
      ],
      [
        'Serverless::Serverless-LambdaDefaultMemorySize',
        'its memory is set by the deployments (memoryLimit).',
      ],
      [
        'Serverless::Serverless-LambdaLatestVersion',
        'CDK pins its runtime; it moves with aws-cdk-lib.',
      ],
      [
        'Serverless::Serverless-LambdaAsyncFailureDestination',
        'CloudFormation invokes it synchronously.',
      ],
      ['Serverless::Serverless-LambdaLogGroup', 'CDK creates its log group.'],
    ] as const) {
      Validations.of(fn).acknowledge({ id, reason: `${why}${reason}` });
    }
  }
}
